import type { CommandModule } from 'yargs';
import { runDistill, DistillOptions } from '@altclip/train';
import { finish, optionsFromArgs, trainFlags, withBackend } from './train-options';

export const distillCommand: CommandModule<any, any> = {
  command: 'distill',
  describe: 'Stage 1: distil a CLIP text encoder (teacher) into the AltCLIP text tower on parallel text',
  builder: (y) =>
    trainFlags(y)
      .option('teacher', { type: 'string', describe: 'CLIP folder or hub id (CLIPTextModelWithProjection or full CLIPModel)' })
      .option('student', { type: 'string', describe: 'AltCLIP folder, xlm-roberta folder (with --vision), hub id of either, or a named config / config.json' })
      .option('student-config', { type: 'string', describe: 'AltCLIP config (named or a file) for the student' })
      .option('vision', { type: 'string', describe: 'CLIP folder or hub id for vision tower + visual_projection + logit_scale (default: the teacher when it is a CLIPModel)' })
      .option('data', { type: 'string', describe: 'parallel corpus: TSV en<TAB>zh or JSONL' })
      .option('teacher-field', { type: 'string', describe: 'JSONL field / TSV column of the English side (default en / 0)' })
      .option('student-field', { type: 'string', describe: 'JSONL field / TSV column of the other side (default zh / 1)' })
      .option('en-en', { type: 'boolean', describe: 'also train (en, en) pairs (default true; essential per the paper)' })
      .option('tokenizer', { type: 'string', describe: 'student SentencePiece folder or hub id (default: the student folder)' })
      .option('teacher-tokenizer', { type: 'string', describe: 'teacher tokenizer folder or hub id (default: the teacher folder / shipped CLIP BPE)' })
      .option('target', { type: 'string', choices: ['pooled', 'projected'], describe: 'teacher feature: pooled EOS before (default) or after text_projection' })
      .option('cache-dir', { type: 'string', describe: 'teacher feature cache (default: <run folder>/../.cache)' })
      .option('teacher-max-length', { type: 'number' })
      .example('$0 distill --teacher clip-vit-large-patch14 --student xlm-roberta-large --data corpus.tsv --name stage1', '')
      .example('$0 distill --config configs/train/distill-tiny.json --teacher runs/teacher/final --student altclip-small --tokenizer datasets/demo-spm --data corpus.tsv', ''),
  handler: async (args) => {
    const o = optionsFromArgs(args, ['teacher', 'student', 'studentConfig', 'vision', 'data', 'teacherField', 'studentField', 'enEn', 'tokenizer', 'teacherTokenizer', 'target', 'cacheDir', 'teacherMaxLength']);
    for (const k of ['teacher', 'student', 'data']) if (!o[k]) throw new Error(`distill: --${k} is required`);
    await withBackend(args);
    finish('distill', await runDistill(o as unknown as DistillOptions));
  },
};
