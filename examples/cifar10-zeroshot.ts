/**
 * CIFAR-10 zero-shot evaluation (the seed's FlagAI AltCLIP_evaluation.py): the 18 CLIP_benchmark templates,
 * class names, 100 x cosine logits; prints {"dataset": "cifar10", "metrics": {...}}.
 *
 *   node examples/dist/cifar10-zeroshot.js MODEL_DIR [CIFAR_DIR] [--split train|test] [--limit N] [--lang en|zh]
 *
 * CIFAR_DIR holds the binary version (data_batch_1..5.bin, test_batch.bin); without it the archive is downloaded
 * into ./data (md5-checked). The default split is train, as in the seed (torchvision's default): the seed's
 * expected {acc1: 0.954, acc5: 0.996, mean_per_class_recall: 0.954} is a train-split figure.
 */
import { setupBackend } from '@altclip/backend';
import { downloadCifar10, readCifar10 } from '@altclip/data';
import { evaluateZeroShot, builtinZeroShotSet, zeroShotMetricsJson, Lang } from '@altclip/eval';
import { loadModelBundle } from '@altclip/models';
import { parseArgs, runIfMain } from './args';

export async function main(argv: string[]): Promise<{ dataset: string; metrics: Record<string, number | null> }> {
  const { positional, flags } = parseArgs(argv);
  const [modelDir, cifarDir] = positional;
  if (!modelDir) throw new Error('usage: node examples/dist/cifar10-zeroshot.js MODEL_DIR [CIFAR_DIR] [--split train|test] [--limit N] [--lang en|zh]');
  const split = flags.split === 'test' ? 'test' : 'train';
  const lang = (flags.lang === 'zh' ? 'zh' : 'en') as Lang;
  const limit = typeof flags.limit === 'string' ? Number(flags.limit) : undefined;
  await setupBackend({});
  const dir = cifarDir ?? (await downloadCifar10('./data', { onProgress: (d, t) => process.stderr.write(`download ${(d / 2 ** 20).toFixed(0)}/${(t / 2 ** 20).toFixed(0)} MiB\n`) }));
  const dataset = readCifar10(dir, { split, onWarning: (w) => process.stderr.write(`warning: ${w}\n`) });
  const bundle = await loadModelBundle(modelDir);
  try {
    const { classnames, templates } = builtinZeroShotSet('cifar10', lang);
    const r = await evaluateZeroShot({
      ...bundle,
      dataset,
      classnames: classnames!,
      templates,
      batchSize: 128,
      limit,
      onProgress: (p) => p.done === p.total && process.stderr.write(`${p.phase}: ${p.done}/${p.total} (${p.rate.toFixed(1)}/s)\n`),
    });
    const result = { dataset: 'cifar10', metrics: zeroShotMetricsJson(r.metrics) };
    console.log(JSON.stringify(result));
    process.stderr.write(`${split} split, ${r.n} images, ${r.imagesPerSecond.toFixed(1)} images/s\n`);
    return result;
  } finally {
    bundle.dispose();
    dataset.close();
  }
}

runIfMain(module, main);
