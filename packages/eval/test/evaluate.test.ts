import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { fixture, tmpDir } from '@altclip/test-utils';
import { readCifar10, ClassificationDataset } from '@altclip/data';
import { closeSharedPool } from '@altclip/image';
import { evaluateZeroShot, evaluateRetrieval, CIFAR10_TEMPLATES_EN, CIFAR10_CLASSNAMES_EN, zeroShotClassifier, zeroShotMetrics } from '@altclip/eval';
import { loadModelBundle, ModelBundle } from '@altclip/models';
import { EVAL_BACKENDS, testBackend } from './helpers';
import { makeTinyModelDir } from './tiny-model';

let bundle: ModelBundle;
let dir: string;
afterAll(() => closeSharedPool()); // image decoding workers, shared by every backend

describe.each(EVAL_BACKENDS)('evaluation on %s', (backend) => {
  beforeAll(async () => {
    await testBackend(backend);
    dir = await makeTinyModelDir();
    bundle = await loadModelBundle(dir);
  });
  afterAll(() => {
    bundle?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('evaluateZeroShot on the CIFAR-10 sample: streaming result equals scoring all logits at once', async () => {
    const hasTrain = fs.existsSync(path.join(fixture('cifar10_bin'), 'data_batch_1.bin'));
    const ds = readCifar10(fixture('cifar10_bin'), { split: hasTrain ? 'train' : 'test' });
    const progress: number[] = [];
    const r = await evaluateZeroShot({
      ...bundle,
      dataset: ds,
      classnames: CIFAR10_CLASSNAMES_EN,
      templates: CIFAR10_TEMPLATES_EN.slice(0, 4),
      batchSize: 5,
      keepLogits: true,
      onProgress: (p) => p.phase === 'images' && progress.push(p.done),
    });
    expect(r.n).toBe(ds.size);
    expect(progress[progress.length - 1]).toBe(ds.size);
    expect(r.imagesPerSecond).toBeGreaterThan(0);
    // Independent check: one big batch through the model, the classifier, and the metrics.
    const W = zeroShotClassifier(bundle.model, bundle.tokenizer, CIFAR10_CLASSNAMES_EN, CIFAR10_TEMPLATES_EN.slice(0, 4));
    const px = new Float32Array(ds.size * 3 * 32 * 32);
    for (let i = 0; i < ds.size; i++) px.set(bundle.processor.process({ ...(await ds.getImage(i)), mode: 'RGB' } as any), i * 3 * 32 * 32);
    const logits = tf.tidy(() => {
      const f = bundle.model.getImageFeatures(tf.tensor4d(px, [ds.size, 3, 32, 32]));
      return tf.mul(tf.matMul(tf.div(f, tf.norm(f, 'euclidean', 1, true)), W), 100) as tf.Tensor2D;
    });
    let maxDiff = 0;
    const all = logits.dataSync();
    for (let i = 0; i < all.length; i++) maxDiff = Math.max(maxDiff, Math.abs(all[i] - r.logits![i]));
    expect(maxDiff).toBeLessThan(1e-3);
    expect(r.metrics).toEqual(zeroShotMetrics(logits, ds.labels));
    tf.dispose([W, logits]);
    ds.close();
  });

  test('memory stays flat over a streamed run of thousands of synthetic images (numTensors, RSS bounded)', async () => {
    const n = 3000;
    let seed = 1;
    const ds: ClassificationDataset = {
      name: 'synthetic',
      size: n,
      classNames: CIFAR10_CLASSNAMES_EN,
      labels: Int32Array.from({ length: n }, (_, i) => i % 10),
      getImage: async () => ({ width: 32, height: 32, channels: 3, data: Uint8Array.from({ length: 32 * 32 * 3 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24) }),
    };
    const W = zeroShotClassifier(bundle.model, bundle.tokenizer, CIFAR10_CLASSNAMES_EN, ['a photo of a {c}.']);
    const tensors0 = tf.memory().numTensors;
    const samples: { done: number; rss: number; tensors: number }[] = [];
    global.gc?.();
    const r = await evaluateZeroShot({
      model: bundle.model,
      classifier: W,
      dataset: ds,
      batchSize: 100,
      onProgress: (p) => samples.push({ done: p.done, rss: process.memoryUsage().rss, tensors: tf.memory().numTensors }),
    });
    expect(r.n).toBe(n);
    expect(tf.memory().numTensors).toBe(tensors0);
    // No tensor survives a batch: the count seen at every progress callback is the same.
    expect(new Set(samples.map((s) => s.tensors)).size).toBe(1);
    // RSS after the first third vs at the end: a leak of the images (3000 x 12 KiB pixels + 3000 x 3x32x32 f32)
    // would add > 40 MiB; allow GC noise.
    const third = samples[Math.floor(samples.length / 3)].rss;
    const last = samples[samples.length - 1].rss;
    expect((last - third) / 2 ** 20).toBeLessThan(40);
    W.dispose();
  }, 300000);

  test('evaluateRetrieval on image files grouped with several captions', async () => {
    const work = tmpDir();
    const hasTest = fs.existsSync(path.join(fixture('cifar10_bin'), 'test_batch.bin'));
    const ds = readCifar10(fixture('cifar10_bin'), { split: hasTest ? 'test' : 'train' });
    const sharp = require('sharp');
    const images: string[] = [];
    const captions: string[] = [];
    const t2i: number[] = [];
    for (let i = 0; i < ds.size; i++) {
      const img = await ds.getImage(i);
      const f = path.join(work, `${i}.png`);
      await sharp(Buffer.from(img.data), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(f);
      images.push(f);
      for (let k = 0; k <= i % 3; k++) {
        captions.push(`a photo of a ${ds.classNames[ds.labels[i]]} number ${k}`);
        t2i.push(i);
      }
    }
    const r = await evaluateRetrieval({
      ...bundle,
      dataset: { name: 't', images, captions, textToImage: Int32Array.from(t2i), report: { file: 't', rows: 0, kept: 0, skipped: 0, reasons: {}, examples: [] } },
      batchSize: 4,
    });
    expect(r.nImages).toBe(ds.size);
    expect(r.nTexts).toBe(captions.length);
    for (const k of [1, 5, 10]) {
      expect(r.metrics.imageRetrievalRecall[k]).toBeGreaterThanOrEqual(0);
      expect(r.metrics.textRetrievalRecall[k]).toBeLessThanOrEqual(1);
    }
    // With as many or fewer images than k, every text finds its image in the top k.
    if (ds.size <= 10) expect(r.metrics.imageRetrievalRecall[10]).toBe(1);
    ds.close();
    fs.rmSync(work, { recursive: true });
  });
});
