/**
 * Zero-shot evaluation throughput and memory over a long streamed run. Measures, in the same run:
 *   A. the model alone: getImageFeatures on ready-made pixel batches (the upper bound);
 *   B. evaluateZeroShot end to end on a CIFAR-10-shaped dataset (read -> decode -> preprocess -> model -> logits).
 * Prints images/s of both and the ratio B/A (1.0 = data loading fully hidden), plus RSS and tfjs tensor counts at
 * 10% / 50% / 100% of the run (flat = streaming works).
 *
 *   npm run bench -- zeroshot-eval [--model DIR] [--n 10000] [--batch 100] [--data CIFAR_DIR --split test]
 *
 * Without --model it uses the tiny fixture model (../shared/fixtures/altclip-tiny, 32 px) with the xlmr fixture
 * tokenizer (word embeddings widened to its 4,002 ids, as the tests do). Without --data the images are synthetic.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { openSafetensors, writeSafetensors } from '@altclip/checkpoint';
import { ClassificationDataset, readCifar10 } from '@altclip/data';
import { CIFAR10_CLASSNAMES_EN, evaluateZeroShot, zeroShotClassifier } from '@altclip/eval';
import { loadModelBundle } from '@altclip/models';

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

async function tinyModelDir(): Promise<string> {
  const fx = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures');
  const src = path.join(fx, 'altclip-tiny');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'altclip-bench-tiny-'));
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
  const old = cfg.text_config.vocab_size;
  const vocab = 4002;
  cfg.text_config.vocab_size = vocab;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  fs.copyFileSync(path.join(fx, 'xlmr', 'spm.model'), path.join(dir, 'sentencepiece.bpe.model'));
  const r = await openSafetensors(path.join(src, 'model.safetensors'));
  const out = new Map<string, { shape: number[]; data: Float32Array; dtype: 'float32' }>();
  for (const k of r.keys()) {
    const t = await r.read(k);
    let data = t.data as Float32Array;
    let shape = t.shape;
    if (k.endsWith('word_embeddings.weight')) {
      const h = shape[1];
      const wide = new Float32Array(vocab * h);
      for (let i = 0; i < vocab; i++) wide.set(data.subarray((i % old) * h, (i % old + 1) * h), i * h);
      data = wide;
      shape = [vocab, h];
    }
    out.set(k, { shape, data, dtype: 'float32' });
  }
  await r.close();
  await writeSafetensors(path.join(dir, 'model.safetensors'), out);
  return dir;
}

function synthetic(n: number): ClassificationDataset {
  return {
    name: 'synthetic-32px',
    size: n,
    classNames: CIFAR10_CLASSNAMES_EN,
    labels: Int32Array.from({ length: n }, (_, i) => i % 10),
    getImage: async (i) => {
      const data = new Uint8Array(32 * 32 * 3);
      let s = (i * 2654435761) >>> 0;
      for (let k = 0; k < data.length; k++) data[k] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
      return { width: 32, height: 32, channels: 3, data };
    },
  };
}

async function main(): Promise<void> {
  const n = Number(arg('n', '10000'));
  const batch = Number(arg('batch', '100'));
  const backend = await setupBackend({ backend: (arg('backend') as any) ?? 'auto' });
  const modelDir = arg('model') ?? (await tinyModelDir());
  const bundle = await loadModelBundle(modelDir);
  const data = arg('data');
  const ds = data ? readCifar10(data, { split: (arg('split') as any) ?? 'test' }) : synthetic(n);
  const total = Math.min(n, ds.size);
  console.log(`backend ${backend.name}; model ${modelDir}; ${ds.name}, ${total} images, batch ${batch}`);
  const W = zeroShotClassifier(bundle.model, bundle.tokenizer, ds.classNames, ['a photo of a {c}.']);
  const [c, h, w] = bundle.processor.outputShape;

  // A: model only, on one pre-made batch repeated.
  const px = tf.randomUniform([batch, c, h, w], -2, 2) as tf.Tensor4D;
  const reps = Math.max(3, Math.ceil(Math.min(total, 2000) / batch));
  tf.dispose(bundle.model.getImageFeatures(px)); // warm-up
  let t0 = Date.now();
  for (let r = 0; r < reps; r++) {
    const f = bundle.model.getImageFeatures(px);
    f.dataSync();
    f.dispose();
  }
  const modelRate = (reps * batch) / ((Date.now() - t0) / 1000);
  px.dispose();

  // B: the full streamed evaluation.
  const marks: { at: string; rssMiB: number; tensors: number }[] = [];
  const want = [0.1, 0.5, 1];
  t0 = Date.now();
  const r = await evaluateZeroShot({
    model: bundle.model,
    classifier: W,
    dataset: ds,
    batchSize: batch,
    limit: total,
    onProgress: (p) => {
      if (p.phase === 'images' && want.length && p.done >= want[0] * total) {
        marks.push({ at: `${Math.round(want.shift()! * 100)}%`, rssMiB: process.memoryUsage().rss / 2 ** 20, tensors: tf.memory().numTensors });
      }
    },
  });
  const evalRate = r.imagesPerSecond;
  console.log(`A model only (getImageFeatures)      ${modelRate.toFixed(1).padStart(9)} images/s`);
  console.log(`B evaluateZeroShot, end to end       ${evalRate.toFixed(1).padStart(9)} images/s`);
  console.log(`ratio B/A                            ${(evalRate / modelRate).toFixed(3).padStart(9)}`);
  for (const m of marks) console.log(`  at ${m.at.padStart(4)}: RSS ${m.rssMiB.toFixed(0)} MiB, ${m.tensors} tensors`);
  console.log(`acc1 ${r.metrics.acc1.toFixed(4)} over ${r.n} images (${data ? 'real labels' : 'synthetic, chance level expected'})`);
  W.dispose();
  bundle.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
