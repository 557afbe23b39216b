import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { closeSharedPool } from '@altclip/image';
import { fixture, tmpDir, REPO_ROOT, tensorflowIfAvailable } from '@altclip/test-utils';
import { readCifar10, ClassificationDataset } from '@altclip/data';
import { AltCLIPModel } from '@altclip/models';
import { runContrastive, runDistill, runFinetune } from '../src';
import { charTokenizer } from './char-tokenizer';

/** 8 visibly different 40x40 PNGs (solid colours, stripes, checkerboard, gradient): distinct frozen-tower features. */
async function makeImages(dir: string): Promise<string[]> {
  const sharp = require('sharp');
  const out: string[] = [];
  for (let k = 0; k < 8; k++) {
    const w = 40;
    const px = Buffer.alloc(w * w * 3);
    for (let y = 0; y < w; y++)
      for (let x = 0; x < w; x++) {
        const solid = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]][k];
        const v = solid ?? (k === 5 ? ((x >> 2) & 1 ? [255, 255, 0] : [0, 0, 0]) : k === 6 ? (((x >> 3) ^ (y >> 3)) & 1 ? [255, 255, 255] : [0, 0, 128]) : [x * 6, y * 6, 128]);
        px.set(v, (y * w + x) * 3);
      }
    const f = path.join(dir, `img${k}.png`);
    await sharp(px, { raw: { width: w, height: w, channels: 3 } }).png().toFile(f);
    out.push(f);
  }
  return out;
}

const SPM = path.join(REPO_ROOT, 'datasets', 'demo-spm');
const TINY = fixture('altclip-tiny');
const quiet = { progress: false, log: () => undefined };
let dir: string;

afterAll(async () => {
  await closeSharedPool(); // image decoding workers used by the file datasets
});

function cifarEight(): { ds: ClassificationDataset; close(): void } {
  const cifar = readCifar10(fixture('cifar10_bin'), { split: 'train' });
  // 8 images of 8 different classes (same-class pairs would have identical captions).
  const pick: number[] = [];
  for (let i = 0; i < cifar.size && pick.length < 8; i++) if (!pick.some((j) => cifar.labels[j] === cifar.labels[i])) pick.push(i);
  expect(pick.length).toBe(8);
  const ds: ClassificationDataset = { name: 'cifar10', size: 8, classNames: cifar.classNames, labels: Int32Array.from(pick.map((i) => cifar.labels[i])), getImage: (i) => cifar.getImage(pick[i]) };
  return { ds, close: () => cifar.close() };
}

// wasm: several times faster than cpu on these small models (the backend package adds the gradient kernels it lacks);
// tensorflow (tfjs-node) where it is installed or built by `npm run setup:tensorflow` (issue 22).
describe.each(['wasm' as const, ...tensorflowIfAvailable('stage runs')])('stages on %s', (backend) => {
  beforeAll(async () => {
    await setupBackend({ backend });
    dir = tmpDir(`altclip-stages-${backend}-`);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('distill: MSE to the teacher goes to ~0 on 8 pairs (4 EN-ZH + 4 EN-EN); cache reused; AltCLIP_T folder complete', async () => {
    const corpus = path.join(dir, 'corpus.tsv');
    fs.writeFileSync(corpus, 'a photo of a dress.\t一张连衣裙的照片。\na picture of a bag.\t一幅包的图片。\na photo of a coat.\t一张外套的照片。\na black and white photo of a sandal.\t一张凉鞋的黑白照片。\n');
    const base = { teacher: fixture('altclip-tiny', 'teacher'), student: TINY, data: corpus, tokenizer: SPM, teacherTokenizer: charTokenizer, ...quiet };
    const before = tf.memory().numTensors;
    const r = await runDistill({ ...base, out: path.join(dir, 'distill'), batchSize: 8, steps: 100, lr: 1e-2, warmup: 2, schedule: 'constant', weightDecay: 0, dropout: false, betas: [0.9, 0.999], logEvery: 20 });
    expect(r.status).toBe('completed');
    expect(r.records.length).toBe(100);
    expect(r.records[0].mse).toBeGreaterThan(0.1);
    expect(r.records[r.records.length - 1].mse).toBeLessThan(r.records[0].mse! * 1e-3);
    expect(tf.memory().numTensors).toBe(before);
    // The cache file was written once; a second run finds it.
    const cacheFiles = fs.readdirSync(path.join(dir, '.cache'));
    expect(cacheFiles.length).toBe(1);
    const logs: string[] = [];
    await runDistill({ ...base, out: path.join(dir, 'distill2'), batchSize: 8, steps: 1, lr: 1e-3, progress: false, log: (l) => logs.push(l) });
    expect(logs.some((l) => l.includes('teacher features from cache'))).toBe(true);
    // --target projected: the feature after the teacher's text_projection, cached under its own key.
    const p = await runDistill({ ...base, out: path.join(dir, 'distill3'), batchSize: 8, steps: 1, lr: 1e-3, target: 'projected' });
    expect(fs.readdirSync(path.join(dir, '.cache')).length).toBe(2);
    expect(JSON.parse(fs.readFileSync(path.join(p.runDir, 'config.json'), 'utf8')).target).toBe('projected');
    expect(p.records[0].mse).not.toBeCloseTo(r.records[0].mse!, 3);
    // The output folder is a complete AltCLIP model: weights, tokenizer, preprocessor config; it loads and runs.
    for (const f of ['config.json', 'model.safetensors', 'sentencepiece.bpe.model', 'preprocessor_config.json']) expect(fs.existsSync(path.join(r.finalDir!, f))).toBe(true);
    const m = await AltCLIPModel.fromPretrained(r.finalDir!);
    const orig = await AltCLIPModel.fromPretrained(TINY);
    // Text tower changed, vision tower and text_projection did not (frozen in stage 1).
    const diff = (k: string) => tf.tidy(() => tf.max(tf.abs(tf.sub(m.namedParameters().get(k)!, orig.namedParameters().get(k)!))).dataSync()[0]);
    expect(diff('text_model.transformation.weight')).toBeGreaterThan(1e-3);
    expect(diff('vision_model.encoder.layers.0.mlp.fc1.weight')).toBe(0);
    expect(diff('text_projection.weight')).toBe(0);
    m.dispose();
    orig.dispose();
  }, 400000);

  test('contrastive: 100% in-batch accuracy on 8 pairs with the image tower frozen; an unreadable image is skipped and counted', async () => {
    const files = await makeImages(dir);
    const captions = ['a photo of a dress.', '一张包的照片。', 'a picture of a coat.', 'a photo of a sandal.', '一张外套的照片。', 'a black and white photo of a bag.', 'a picture of a shirt.', '一幅连衣裙的图片。'];
    fs.writeFileSync(path.join(dir, 'broken.jpg'), 'not an image');
    const rows = files.map((f, i) => JSON.stringify({ image: f, caption: captions[i] }));
    rows.push(JSON.stringify({ image: path.join(dir, 'broken.jpg'), caption: 'broken' }), '{"image": "missing.jpg", "caption": "x"}', 'not json');
    const data = path.join(dir, 'pairs.jsonl');
    fs.writeFileSync(data, rows.join('\n') + '\n');
    const r = await runContrastive({ model: TINY, tokenizer: SPM, data, out: path.join(dir, 'contrastive'), batchSize: 9, steps: 70, lr: 1e-2, warmup: 2, schedule: 'constant', weightDecay: 0, dropout: false, logEvery: 10, ...quiet });
    expect(r.status).toBe('completed');
    expect(r.report!.skipped).toBe(2); // missing file + bad JSON, at read time
    expect(r.failedImages).toBe(1); // undecodable, at load time
    const last = r.records[r.records.length - 1];
    expect(last.acc).toBe(1);
    expect(last.loss).toBeLessThan(r.records[0].loss);
    const m = await AltCLIPModel.fromPretrained(r.finalDir!);
    const orig = await AltCLIPModel.fromPretrained(TINY);
    const same = tf.tidy(() => tf.max(tf.abs(tf.sub(m.namedParameters().get('vision_model.embeddings.patch_embedding.weight')!, orig.namedParameters().get('vision_model.embeddings.patch_embedding.weight')!))).dataSync()[0]);
    expect(same).toBe(0);
    m.dispose();
    orig.dispose();
  }, 400000);

  test('finetune --dataset folder: captions from class-folder names, 100% in-batch accuracy on 8 images of 8 classes', async () => {
    const root = path.join(dir, 'folder-ds');
    const names = ['red', 'green', 'blue', 'white', 'black', 'stripes', 'checkerboard', 'gradient'];
    fs.mkdirSync(path.join(dir, 'ft-src'), { recursive: true });
    const imgs = await makeImages(path.join(dir, 'ft-src'));
    imgs.forEach((f, k) => {
      fs.mkdirSync(path.join(root, names[k]), { recursive: true });
      fs.copyFileSync(f, path.join(root, names[k], 'a.png'));
    });
    const r = await runFinetune({ model: TINY, tokenizer: SPM, dataset: 'folder', data: root, templates: ['a photo of a {c}.'], out: path.join(dir, 'ft'), batchSize: 8, steps: 70, lr: 1e-2, warmup: 2, schedule: 'constant', weightDecay: 0, dropout: false, logEvery: 10, ...quiet });
    const cfg = JSON.parse(fs.readFileSync(path.join(r.runDir, 'config.json'), 'utf8'));
    expect([...cfg.classnames].sort()).toEqual([...names].sort());
    expect(r.records[r.records.length - 1].acc).toBe(1);
  }, 400000);

  test('finetune on CIFAR-10 (fixture, 8 images of 8 classes): class-name captions reach 100% in-batch accuracy', async () => {
    const c = cifarEight();
    const r = await runFinetune({ model: TINY, tokenizer: SPM, dataset: c.ds, templates: ['a photo of a {c}.'], out: path.join(dir, 'ft-cifar'), batchSize: 8, steps: 100, lr: 1e-2, warmup: 2, schedule: 'constant', weightDecay: 0, dropout: false, ...quiet });
    const cfg = JSON.parse(fs.readFileSync(path.join(r.runDir, 'config.json'), 'utf8'));
    expect(cfg.classnames).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    expect(r.records[r.records.length - 1].acc).toBe(1);
    c.close();
  }, 400000);

  test('finetune --preset flagai: the seed recipe (AnnealingLR, wd 0.1, clip 1, seed 1234, all parameters incl. vision train)', async () => {
    const c = cifarEight();
    const r = await runFinetune({ model: TINY, tokenizer: SPM, dataset: c.ds, preset: 'flagai', out: path.join(dir, 'ft-flagai'), steps: 2, ...quiet });
    const cfg = JSON.parse(fs.readFileSync(path.join(r.runDir, 'config.json'), 'utf8'));
    expect(cfg.templates).toEqual(['a photo of a {c}']);
    expect(cfg.train).toMatchObject({ schedule: 'flagai-cosine', lr: 1e-4, batchSize: 4, warmup: 0.1, weightDecay: 0.1, gradClip: 1, seed: 1234, betas: [0.9, 0.999] });
    // FlagAI's AnnealingLR starts at lr 0 during warmup; with 2 steps (warmup int(0.2) = 0) the first lr is lr0.
    expect(r.records[0].lr).toBeCloseTo(1e-4, 12);
    const m = await AltCLIPModel.fromPretrained(r.finalDir!);
    const orig = await AltCLIPModel.fromPretrained(TINY);
    const k = 'vision_model.encoder.layers.0.mlp.fc1.weight';
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(m.namedParameters().get(k)!, orig.namedParameters().get(k)!))).dataSync()[0]);
    expect(moved).toBeGreaterThan(0);
    m.dispose();
    orig.dispose();
    c.close();
  });

  test('contrastive with the paper defaults on a 4-step run warms up over 10% of it (not 2,000 steps at lr ~1e-9), and one pair is warned about', async () => {
    const files = await makeImages(dir);
    const data = path.join(dir, 'short.tsv');
    fs.writeFileSync(data, `image\tcaption\n${files.slice(0, 4).map((f, i) => `${f}\tcaption ${i}`).join('\n')}\n`);
    const logs: string[] = [];
    const r = await runContrastive({ model: TINY, tokenizer: SPM, data, out: path.join(dir, 'short'), batchSize: 4, steps: 4, logEvery: 1, progress: false, log: (l) => logs.push(l) });
    expect(logs.join('\n')).toMatch(/contrastive: the default warmup of 2000 steps is not shorter than this 4-step run; warming up over its first 10% instead/);
    expect(r.records.map((x) => x.lr)).toEqual([2e-6, 2e-6 * (1 + Math.cos(Math.PI / 4)) / 2, 1e-6, 2e-6 * (1 + Math.cos((3 * Math.PI) / 4)) / 2].map((x) => expect.closeTo(x, 15)));
    const one = path.join(dir, 'one.tsv');
    fs.writeFileSync(one, `image\tcaption\n${files[0]}\ta single caption\n`);
    const logs1: string[] = [];
    const r1 = await runContrastive({ model: TINY, tokenizer: SPM, data: one, out: path.join(dir, 'one'), batchSize: 8, steps: 1, warmup: 0, progress: false, log: (l) => logs1.push(l) });
    expect(logs1.join('\n')).toMatch(/contrastive: warning: batches of 1 pair: the contrastive loss has no negatives, is 0 and trains nothing/);
    expect(Math.abs(r1.losses[0])).toBe(0);
  }, 400000);
});
