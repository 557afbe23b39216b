/** zeroShotImageClassification: the one-liner against the manual route (tokenize + preprocess + model.forward). */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { fixture } from '@altclip/test-utils';
import { loadImage, closeSharedPool } from '@altclip/image';
import { zeroShotImageClassification, ZeroShotImageClassifier } from '@altclip/eval';
import { loadModelBundle, ModelBundle } from '@altclip/models';
import { EVAL_BACKENDS, testBackend } from './helpers';
import { makeTinyModelDir } from './tiny-model';

const IMAGES = ['rgb_224x224.png', 'palette_120x90.png', 'rgb_640x480.jpg'].map((f) => fixture('preprocess', 'images', f));
const LABELS = ['cat', 'dog', 'car', 'tree', '一只猫'];
let dir: string;
let classify: ZeroShotImageClassifier;
let manualBundle: ModelBundle;

afterAll(() => closeSharedPool()); // image decoding workers, shared by every backend

describe.each(EVAL_BACKENDS)('zeroShotImageClassification on %s', (backend) => {
  beforeAll(async () => {
    await testBackend(backend);
    dir = await makeTinyModelDir();
    classify = await zeroShotImageClassification(dir);
    manualBundle = await loadModelBundle(dir);
  });
  afterAll(() => {
    classify?.dispose();
    manualBundle?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The README's manual route: the tokenizer, the image processor and AltCLIPModel.forward's logits_per_image. */
  async function manual(imageFile: string, texts: string[]): Promise<number[]> {
    const { model, tokenizer, processor } = manualBundle;
    const enc = tokenizer.encode(texts, { padding: 'longest' });
    const L = enc.inputIds[0].length;
    const img = processor.processBatch([await loadImage(imageFile)]);
    return tf.tidy(() => {
      const out = model.forward({
        inputIds: tf.tensor2d(enc.inputIds.flat(), [texts.length, L], 'int32'),
        attentionMask: tf.tensor2d(enc.attentionMask.flat(), [texts.length, L], 'int32'),
        pixelValues: tf.tensor4d(img.data, img.shape),
      });
      return Array.from(tf.softmax(out.logitsPerImage, -1).dataSync()); // [1, T] -> T
    });
  }

  test('scores equal the manual pipeline, labels sorted by score, the default template is HF\'s', async () => {
    const got = await classify(IMAGES[0], LABELS);
    const want = await manual(IMAGES[0], LABELS.map((l) => `This is a photo of ${l}.`));
    expect(got.map((r) => r.label).sort()).toEqual([...LABELS].sort());
    for (let i = 1; i < got.length; i++) expect(got[i - 1].score).toBeGreaterThanOrEqual(got[i].score);
    for (const r of got) expect(Math.abs(r.score - want[LABELS.indexOf(r.label)])).toBeLessThan(1e-5);
    expect(got.reduce((s, r) => s + r.score, 0)).toBeCloseTo(1, 5);
    // a random tiny model still ranks differently per image; the top label must be the manual argmax
    expect(got[0].label).toBe(LABELS[want.indexOf(Math.max(...want))]);
  });

  test('hypothesisTemplate, and a path, a Buffer and a decoded image give the same answer', async () => {
    const template = 'a photo of a {}.';
    const want = await manual(IMAGES[2], LABELS.map((l) => `a photo of a ${l}.`));
    const byPath = await classify(IMAGES[2], LABELS, { hypothesisTemplate: template });
    const byBuffer = await classify(fs.readFileSync(IMAGES[2]), LABELS, { hypothesisTemplate: template });
    const byImage = await classify(await loadImage(IMAGES[2]), LABELS, { hypothesisTemplate: template });
    for (const r of byPath) expect(Math.abs(r.score - want[LABELS.indexOf(r.label)])).toBeLessThan(1e-5);
    expect(byBuffer).toEqual(byPath);
    expect(byImage).toEqual(byPath);
  });

  test('an array of images gives one ranked list per image, each equal to the single-image call', async () => {
    const all = await classify(IMAGES, LABELS);
    expect(all).toHaveLength(IMAGES.length);
    for (let i = 0; i < IMAGES.length; i++) {
      const one = await classify(IMAGES[i], LABELS);
      expect(all[i].map((r) => r.label)).toEqual(one.map((r) => r.label));
      all[i].forEach((r, k) => expect(Math.abs(r.score - one[k].score)).toBeLessThan(1e-5));
    }
  });

  test('errors name the problem', async () => {
    await expect(classify(IMAGES[0], [])).rejects.toThrow(/at least one label/);
    await expect(classify(path.join(dir, 'nope.jpg'), LABELS)).rejects.toThrow(/nope\.jpg/);
    await expect(zeroShotImageClassification(path.join(dir, 'no-model'))).rejects.toThrow(/no-model: no such model folder/);
  });
});
