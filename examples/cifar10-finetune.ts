/**
 * CIFAR-10 fine-tuning (the seed's FlagAI altclip_finetuning.py) with @altclip/train's runFinetune: the seed's
 * hyper-parameters (batch 4, lr 1e-4, 10 epochs, warmup 0.1, FlagAI cosine, weight decay 0.1, clip 1.0, seed
 * 1234) via preset 'flagai', but captions built from class names ("a photo of a cat"), not integer labels.
 *
 *   node examples/dist/cifar10-finetune.js MODEL_DIR [CIFAR_DIR] [--out runs/cifar10-ft] [--epochs N]
 *        [--steps N] [--limit N] [--preset flagai|default]
 *
 * Without CIFAR_DIR the binary archive is downloaded into ./data. Prints the loss trajectory and where the
 * fine-tuned model folder was written.
 */
import { setupBackend } from '@altclip/backend';
import { downloadCifar10 } from '@altclip/data';
import { runFinetune } from '@altclip/train';
import { parseArgs, runIfMain } from './args';

export async function main(argv: string[]): Promise<{ steps: number; firstLoss: number; lastLoss: number; finalDir?: string }> {
  const { positional, flags } = parseArgs(argv);
  const [modelDir, cifarDir] = positional;
  if (!modelDir) throw new Error('usage: node examples/dist/cifar10-finetune.js MODEL_DIR [CIFAR_DIR] [--out DIR] [--epochs N] [--steps N] [--limit N]');
  const num = (k: string) => (typeof flags[k] === 'string' ? Number(flags[k]) : undefined);
  await setupBackend({});
  const data = cifarDir ?? (await downloadCifar10('./data'));
  const r = await runFinetune({
    model: modelDir,
    dataset: 'cifar10',
    data,
    split: 'train',
    preset: flags.preset === 'default' ? 'default' : 'flagai',
    ...(num('epochs') !== undefined ? { epochs: num('epochs') } : {}),
    ...(num('steps') !== undefined ? { steps: num('steps') } : {}),
    ...(num('limit') !== undefined ? { limit: num('limit') } : {}),
    out: typeof flags.out === 'string' ? flags.out : undefined,
    progress: false,
  });
  const losses = r.losses;
  console.log(`steps ${r.step}/${r.totalSteps}, loss ${losses[0]?.toFixed(4)} -> ${losses[losses.length - 1]?.toFixed(4)}`);
  if (r.finalDir) console.log(`fine-tuned model: ${r.finalDir}`);
  return { steps: r.step, firstLoss: losses[0], lastLoss: losses[losses.length - 1], finalDir: r.finalDir };
}

runIfMain(module, main);
