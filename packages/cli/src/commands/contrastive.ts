import type { CommandModule } from 'yargs';
import { runContrastive, ContrastiveOptions } from '@altclip/train';
import { finish, lockFlags, LOCK_FLAG_KEYS, optionsFromArgs, trainFlags, withBackend } from './train-options';

export const contrastiveCommand: CommandModule<any, any> = {
  command: 'contrastive',
  describe: 'Stage 2: CLIP contrastive training on image-text pairs (image tower frozen by default)',
  builder: (y) =>
    lockFlags(trainFlags(y), 'freeze the vision tower (default true; --lock-image false trains it, e.g. a CLIP from scratch)')
      .option('model', { type: 'string', describe: 'AltCLIP or CLIP folder or hub id, or a named config (configs/models) to train from scratch' })
      .option('data', { type: 'string', describe: 'pairs file (CSV/TSV/JSONL: image, caption[, lang]) or a folder with captions.jsonl|tsv|csv' })
      .option('tokenizer', { type: 'string', describe: 'tokenizer folder or hub id (default: the model folder; CLIP configs: the shipped BPE)' })
      .option('image-root', { type: 'string', describe: 'image paths are relative to this folder (default: the data file folder)' })
      .option('caption-column', { type: 'string' })
      .option('image-column', { type: 'string' })
      .option('freeze-logit-scale', { type: 'boolean' })
      .example('$0 contrastive --model runs/distill/final --data pairs.tsv --batch-size 256 --lr 2e-6 --steps 2000 --name stage2', '')
      .example('$0 contrastive --config configs/train/contrastive-tiny.json --model altclip-tiny --tokenizer datasets/demo-spm --data pairs.jsonl', ''),
  handler: async (args) => {
    const o = optionsFromArgs(args, ['model', 'data', 'tokenizer', 'imageRoot', 'captionColumn', 'imageColumn', ...LOCK_FLAG_KEYS, 'freezeLogitScale']);
    if (!o.model) throw new Error('contrastive: --model is required (a model folder or a named config)');
    if (!o.data) throw new Error('contrastive: --data is required');
    await withBackend(args);
    finish('contrastive', await runContrastive(o as unknown as ContrastiveOptions));
  },
};
