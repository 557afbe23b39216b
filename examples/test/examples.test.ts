import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import { fixture, tmpDir, maxAbsDiff } from '@altclip/test-utils';
import { setupBackend } from '@altclip/backend';
import { readCifar10 } from '@altclip/data';
import { closeSharedPool } from '@altclip/image';
import { evaluateZeroShot, CIFAR10_TEMPLATES_EN, CIFAR10_CLASSNAMES_EN } from '@altclip/eval';
import { loadModelBundle, textMaxLength } from '@altclip/models';
// The tiny fixture model widened to the xlmr fixture tokenizer's 4,002 ids (see that file for why).
import { makeTinyModelDir } from '../../packages/eval/test/tiny-model';
import * as inference from '../inference';
import * as zeroshot from '../cifar10-zeroshot';
import * as finetune from '../cifar10-finetune';
import * as readme from '../readme';
import { ImageProcessor } from '@altclip/image';
import { REPO_ROOT } from '@altclip/test-utils';

const CIFAR = fixture('cifar10_bin');
const SPLITS = (['train', 'test'] as const).filter((s) => fs.existsSync(path.join(CIFAR, s === 'train' ? 'data_batch_1.bin' : 'test_batch.bin')));
let work: string;
let modelDir: string;

beforeAll(async () => {
  await setupBackend({});
  work = tmpDir();
  modelDir = await makeTinyModelDir(path.join(work, 'model'));
});
afterAll(async () => {
  await closeSharedPool();
  fs.rmSync(work, { recursive: true, force: true });
});

function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return fn().finally(() => {
    log.mockRestore();
    err.mockRestore();
  });
}

test('inference.ts: one image, three captions, probabilities equal to the model forward', async () => {
  const sharp = require('sharp');
  const ds = readCifar10(CIFAR, { split: SPLITS[SPLITS.length - 1] });
  const img = await ds.getImage(0);
  ds.close();
  const file = path.join(work, 'cifar0.png');
  await sharp(Buffer.from(img.data), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(file);
  const r = await quiet(() => inference.main([modelDir, file]));
  expect(r.texts).toEqual(['a rat', 'a dog', 'a man']);
  const b = await loadModelBundle(modelDir);
  const enc = b.tokenizer.encode(r.texts, { maxLength: textMaxLength(b.model.config), padding: 'longest', truncation: true } as any);
  const ref = tf.tidy(() => {
    const px = tf.tensor4d(b.processor.process({ ...img, mode: 'RGB' } as any), [1, 3, 32, 32]);
    return tf.softmax((b.model as any).forward({ inputIds: enc.inputIds, attentionMask: enc.attentionMask, pixelValues: px }).logitsPerImage, -1);
  });
  expect(maxAbsDiff(r.probs, ref.dataSync())).toBeLessThan(1e-5);
  ref.dispose();
  b.dispose();
});

test('cifar10-zeroshot.ts prints {"dataset": "cifar10", "metrics": ...} equal to evaluateZeroShot', async () => {
  for (const split of SPLITS) {
    const r = await quiet(() => zeroshot.main([modelDir, CIFAR, '--split', split]));
    expect(r.dataset).toBe('cifar10');
    const b = await loadModelBundle(modelDir);
    const ds = readCifar10(CIFAR, { split });
    const lib = await evaluateZeroShot({ ...b, dataset: ds, classnames: CIFAR10_CLASSNAMES_EN, templates: CIFAR10_TEMPLATES_EN });
    expect(r.metrics).toEqual({ acc1: lib.metrics.acc1, acc5: lib.metrics.acc5, mean_per_class_recall: lib.metrics.meanPerClassRecall });
    ds.close();
    b.dispose();
  }
});

test('cifar10-finetune.ts trains a few steps with @altclip/train and writes a loadable model folder', async () => {
  const out = path.join(work, 'ft');
  const r = await quiet(() => finetune.main([modelDir, CIFAR, '--limit', '8', '--steps', '2', '--out', out]));
  expect(r.steps).toBe(2);
  expect(Number.isFinite(r.firstLoss) && Number.isFinite(r.lastLoss)).toBe(true);
  expect(r.finalDir).toBe(path.join(out, 'final'));
  const b = await loadModelBundle(r.finalDir!);
  expect((b.model.config as any).model_type).toBe('altclip');
  b.dispose();
}, 300000);

const built = fs.existsSync(path.join(__dirname, '..', 'dist', 'cifar10-zeroshot.js'));
(built ? test : test.skip)('the built examples run as `node examples/dist/<name>.js MODEL_DIR` (needs `npx tsc -b`)', () => {
  const out = execFileSync(process.execPath, [path.join(__dirname, '..', 'dist', 'cifar10-zeroshot.js'), modelDir, CIFAR, '--split', SPLITS[SPLITS.length - 1]], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const r = JSON.parse(out.trim().split('\n').pop()!);
  expect(r.dataset).toBe('cifar10');
  expect(Object.keys(r.metrics).sort()).toEqual(['acc1', 'acc5', 'mean_per_class_recall']);
  const inf = execFileSync(process.execPath, [path.join(__dirname, '..', 'dist', 'inference.js'), modelDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  expect(inf).toMatch(/0\.\d{4}\s+a photo of a sneaker/);
});

/** A marked region of examples/readme.ts as the README prints it: dedented, arguments spelled as example paths. */
function readmeRegion(name: string): string {
  const src = fs.readFileSync(path.join(__dirname, '..', 'readme.ts'), 'utf8');
  const m = new RegExp(`// README:${name}:begin\\n([\\s\\S]*?)\\n\\s*// README:${name}:end`).exec(src);
  if (!m) throw new Error(`no README:${name} region in examples/readme.ts`);
  const lines = m[1].split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)![0].length));
  const args: Record<string, string> = { modelDir: "'./AltCLIP'", imageFile: "'cat.jpg'", outDir: "'./my-model'", teacherDir: "'./clip-vit-large-patch14'" };
  return lines.map((l) => l.slice(indent).replace(/\b(modelDir|imageFile|outDir|teacherDir)\b/g, (w) => args[w])).join('\n');
}

test('readme.ts: the README library snippets are these lines, and they run (tiny model, its CLIP text teacher)', async () => {
  // The pipeline one-liner is in the README, the model snippets on the library page.
  const text = ['README.md', 'docs/library.md'].map((f) => fs.readFileSync(path.join(REPO_ROOT, f), 'utf8')).join('\n');
  for (const name of ['models', 'teacher', 'pipeline']) expect({ name, inReadme: text.includes(readmeRegion(name)) }).toEqual({ name, inReadme: true });
  const dir = await makeTinyModelDir(path.join(work, 'readme-model'));
  ImageProcessor.fromConfig({ size: 32, crop_size: 32 }).save(dir); // a complete HF folder, as ./AltCLIP would be
  const image = fixture('preprocess', 'images', 'rgb_640x480.jpg');
  const out = path.join(work, 'readme-saved');
  const r = await quiet(() => readme.main([dir, image, fixture('altclip-tiny', 'teacher'), out]));
  const proj = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).projection_dim;
  expect(r.models.textShape).toEqual([2, proj]);
  expect(r.models.imageShape).toEqual([1, proj]);
  expect(r.models.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  expect(Number.isFinite(r.models.loss)).toBe(true);
  expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(true);
  expect(r.pipeline.ranked.map((x) => x.label).sort()).toEqual(['car', 'cat', 'dog']);
  expect(r.pipeline.zh.map((x) => x.label).sort()).toEqual(['汽车', '狗', '猫']);
});
