import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { fixture, tmpDir, maxAbsDiff } from '@altclip/test-utils';
import { setupBackend } from '@altclip/backend';
import { readCifar10 } from '@altclip/data';
import { closeSharedPool, loadImage } from '@altclip/image';
import { openSafetensors } from '@altclip/checkpoint';
import { evaluateZeroShot, CIFAR10_TEMPLATES_EN, CIFAR10_CLASSNAMES_EN, textFeatures } from '@altclip/eval';
import { loadModelBundle, ModelBundle, textMaxLength } from '@altclip/models';
import { makeTinyModelDir } from '../../eval/test/tiny-model';
import { cifarPngs, runCli } from './run-cli';

let work: string;
let modelDir: string;
let bundle: ModelBundle;
let images: string[];
const CIFAR = fixture('cifar10_bin');

beforeAll(async () => {
  await setupBackend({ backend: 'auto' });
  work = tmpDir();
  modelDir = await makeTinyModelDir(path.join(work, 'model'));
  bundle = await loadModelBundle(modelDir);
  ({ files: images } = await cifarPngs(CIFAR, SPLITS[SPLITS.length - 1], work, 4));
});
afterAll(async () => {
  await closeSharedPool();
  bundle.dispose();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Runs the CLI in-process; returns stdout. */
const cli = async (args: string[]): Promise<string> => (await runCli(args)).out;

const SPLITS = (['train', 'test'] as const).filter((s) => fs.readdirSync(CIFAR).some((f) => (s === 'train' ? /^data_batch_\d\.bin$/ : /^test_batch\.bin$/).test(f)));

test.each(SPLITS)('altclip eval zeroshot on the tiny model and the CIFAR-10 sample (%s split)', async (split) => {
  const out = path.join(work, `zs-${split}.json`);
  const text = await cli(['eval', 'zeroshot', '--model', modelDir, '--dataset', 'cifar10', '--data', CIFAR, '--split', split, '--batch-size', '5', '--out', out]);
  expect(text).toMatch(/acc1\s+\d\.\d{4}/);
  const r = JSON.parse(fs.readFileSync(out, 'utf8'));
  const ds = readCifar10(CIFAR, { split });
  expect(r.dataset).toBe('cifar10');
  expect(Object.keys(r.metrics).sort()).toEqual(['acc1', 'acc5', 'mean_per_class_recall']);
  expect(r.settings).toMatchObject({ split, lang: 'en', n_images: ds.size, templates: CIFAR10_TEMPLATES_EN, classnames: CIFAR10_CLASSNAMES_EN });
  expect(r.settings.images_per_second).toBeGreaterThan(0);
  // The same evaluation through the library API gives the same numbers.
  const lib = await evaluateZeroShot({ ...bundle, dataset: ds, classnames: CIFAR10_CLASSNAMES_EN, templates: CIFAR10_TEMPLATES_EN, batchSize: 32 });
  expect(r.metrics).toEqual({ acc1: lib.metrics.acc1, acc5: lib.metrics.acc5, mean_per_class_recall: lib.metrics.meanPerClassRecall });
  ds.close();
});

test('altclip eval zeroshot: a truncated CIFAR-10 file fails naming the file and the record', async () => {
  const bad = path.join(work, 'badcifar');
  fs.mkdirSync(bad);
  const src = fs.readFileSync(path.join(CIFAR, SPLITS.includes('test') ? 'test_batch.bin' : 'data_batch_1.bin'));
  fs.writeFileSync(path.join(bad, 'test_batch.bin'), src.subarray(0, src.length - 7));
  const n = Math.floor((src.length - 7) / 3073);
  await expect(cli(['eval', 'zeroshot', '--model', modelDir, '--dataset', 'cifar10', '--data', bad, '--split', 'test'])).rejects.toThrow(
    new RegExp(`badcifar/test_batch.bin.*record ${n}`),
  );
});

test('altclip predict --json: softmax over texts of exp(logit_scale) x cosine, equal to the model forward', async () => {
  const texts = ['一只猫', 'a dog', 'a photo of a ship'];
  const text = await cli(['predict', '--model', modelDir, '--image', images[0], '--image', images[1], ...texts.flatMap((t) => ['--text', t]), '--json']);
  const r = JSON.parse(text);
  expect(r.texts).toEqual(texts);
  expect(r.images).toHaveLength(2);
  // Reference: HF-style AltCLIPModel.forward logits_per_image for the same inputs.
  const enc = bundle.tokenizer.encode(texts, { maxLength: textMaxLength(bundle.model.config), padding: 'longest', truncation: true } as any);
  const batch = bundle.processor.processBatch(await Promise.all(images.slice(0, 2).map((f) => loadImage(f))));
  const ref = tf.tidy(() => {
    const o = (bundle.model as any).forward({ inputIds: enc.inputIds, attentionMask: enc.attentionMask, pixelValues: tf.tensor4d(batch.data, batch.shape) });
    return tf.softmax(o.logitsPerImage, -1);
  });
  const probs = r.images.flatMap((im: any) => im.probs);
  expect(maxAbsDiff(probs, ref.dataSync())).toBeLessThan(1e-5);
  ref.dispose();
  for (const im of r.images) expect(Math.abs(im.probs.reduce((a: number, b: number) => a + b, 0) - 1)).toBeLessThan(1e-6);
  // Table output names the texts.
  const table = await cli(['predict', '--model', modelDir, '--image', images[0], '--text', 'a cat', '--text', '一只狗']);
  expect(table).toMatch(/a cat\s+一只狗/);
});

test('altclip embed: safetensors + index, rows equal the normalised features', async () => {
  const list = path.join(work, 'list.txt');
  fs.writeFileSync(list, images.map((f) => path.basename(f)).join('\n') + '\n');
  const textsFile = path.join(work, 'texts.txt');
  fs.writeFileSync(textsFile, 'a cat\n一只狗\n\nthe truck\n');
  const out = path.join(work, 'emb', 'e.safetensors');
  await cli(['embed', '--model', modelDir, '--images', list, '--texts', textsFile, '--out', out, '--batch-size', '3']);
  const index = JSON.parse(fs.readFileSync(path.join(work, 'emb', 'e.index.json'), 'utf8'));
  expect(index.image_embeds.files).toEqual(images);
  expect(index.text_embeds.texts).toEqual(['a cat', '一只狗', 'the truck']);
  const r = await openSafetensors(out);
  const ie = await r.read('image_embeds');
  const te = await r.read('text_embeds');
  await r.close();
  const d = (bundle.model.config as any).projection_dim;
  expect(ie.shape).toEqual([images.length, d]);
  expect(te.shape).toEqual([3, d]);
  const ref = textFeatures(bundle.model, bundle.tokenizer, ['a cat', '一只狗', 'the truck']);
  ref.forEach((row, i) => {
    const n = Math.hypot(...row);
    expect(maxAbsDiff(row.map((v) => v / n), (te.data as Float32Array).subarray(i * d, (i + 1) * d))).toBeLessThan(1e-5);
  });
  const batch = bundle.processor.processBatch(await Promise.all(images.map((f) => loadImage(f))));
  const f = tf.tidy(() => {
    const x = bundle.model.getImageFeatures(tf.tensor4d(batch.data, batch.shape));
    return tf.div(x, tf.norm(x, 'euclidean', 1, true));
  });
  expect(maxAbsDiff(f.dataSync(), ie.data)).toBeLessThan(1e-5);
  f.dispose();
});
