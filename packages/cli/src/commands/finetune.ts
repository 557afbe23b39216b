import type { CommandModule } from 'yargs';
import { runFinetune, FinetuneOptions } from '@altclip/train';
import { finish, lockFlags, LOCK_FLAG_KEYS, optionsFromArgs, trainFlags, withBackend } from './train-options';

export const finetuneCommand: CommandModule<any, any> = {
  command: 'finetune',
  describe: "Fine-tune on a classification dataset with CLIP loss on class-name captions (FlagAI's CIFAR-10 example with --preset flagai)",
  builder: (y) =>
    lockFlags(trainFlags(y), 'freeze the vision tower (default true; false with --preset flagai)')
      .option('model', { type: 'string', describe: 'AltCLIP or CLIP folder, or hub id' })
      .option('dataset', { type: 'string', choices: ['cifar10', 'fashion-mnist', 'mnist', 'folder'], default: 'cifar10' })
      .option('data', { type: 'string', describe: 'dataset folder (CIFAR-10 .bin files, IDX files, or class folders)' })
      .option('split', { type: 'string', choices: ['train', 'test'], describe: 'default train' })
      .option('download', { type: 'boolean', describe: 'download CIFAR-10 (md5 checked) into --data if missing' })
      .option('lang', { type: 'string', choices: ['en', 'zh'], describe: 'caption language (default en)' })
      .option('templates', { type: 'string', describe: "template set name or JSON file ('{c}' = class name)" })
      .option('classnames', { type: 'string', describe: 'class names file (JSON array or one per line)' })
      .option('limit', { type: 'number', describe: 'train on the first N images' })
      .option('preset', { type: 'string', choices: ['flagai', 'default'], describe: "flagai: the seed's recipe (batch 4, lr 1e-4, 10 epochs, AnnealingLR, all parameters)" })
      .option('tokenizer', { type: 'string' })
      .example('$0 finetune --model BAAI-AltCLIP --dataset cifar10 --data data/cifar-10-batches-bin --preset flagai --name cifar-flagai', '')
      .example('$0 finetune --model runs/stage2/final --dataset fashion-mnist --lang zh --epochs 1', ''),
  handler: async (args) => {
    const o = optionsFromArgs(args, ['model', 'dataset', 'data', 'split', 'download', 'lang', 'templates', 'classnames', 'limit', 'preset', 'tokenizer', ...LOCK_FLAG_KEYS]);
    if (!o.model) throw new Error('finetune: --model is required');
    await withBackend(args);
    finish('finetune', await runFinetune(o as unknown as FinetuneOptions));
  },
};
