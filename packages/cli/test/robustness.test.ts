import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { setupBackend } from '@altclip/backend';
import { closeSharedPool } from '@altclip/image';
import { checkpointProblem } from '@altclip/train';
import { fixture, tmpDir, REPO_ROOT } from '@altclip/test-utils';
import { main } from '../src/main';

const SPM = path.join(REPO_ROOT, 'datasets', 'demo-spm');
const TINY = fixture('altclip-tiny');
const IMGS = fixture('preprocess', 'images');
// Runs the CLI from its TypeScript sources in a child process, as the train package's signal tests do.
const CLI = ['-r', path.join(REPO_ROOT, 'packages', 'train', 'test', 'child', 'register-ts.js'), path.join(REPO_ROOT, 'packages', 'cli', 'src', 'bin.ts')];
let dir: string;
let pairs: string;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = tmpDir('altclip-cli-robust-');
  pairs = path.join(dir, 'pairs.tsv');
  const rows = ['rgb_224x224.png', 'rgb_50x80.png', 'gray_334x250.png', 'palette_120x90.png'].map((f, i) => `${path.join(IMGS, f)}\tcaption number ${i}`);
  fs.writeFileSync(pairs, `image\tcaption\n${rows.join('\n')}\n`);
});
afterAll(async () => {
  await closeSharedPool();
  fs.rmSync(dir, { recursive: true, force: true });
});

const contrastive = (out: string, ...extra: string[]) => [
  'contrastive', '--backend', 'wasm', '--model', TINY, '--tokenizer', SPM, '--data', pairs, '--batch-size', '4', '--warmup', '0', '--out', out, '--no-progress', ...extra,
];

test('a bad flag: exit status 1 and one "altclip: " line naming the flag and the value', async () => {
  const p = spawn(process.execPath, [...CLI, 'embed', '--model', TINY, '--texts', 'x', '--out', 'y', '--batch-size', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => p.on('exit', r));
  expect(code).toBe(1);
  expect(err).toBe('altclip: --batch-size must be an integer >= 1, got 0\n');
});

test('SIGTERM after the first logged step: the CLI stops within a step or two with a resumable checkpoint (exit 143)', async () => {
  const out = path.join(dir, 'term');
  const metrics = path.join(out, 'metrics.jsonl');
  // Steps from the cached image features of a frozen tower are fully synchronous: the case that used to run on.
  const p = spawn(process.execPath, [...CLI, ...contrastive(out, '--steps', '3000', '--log-every', '1')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => p.on('exit', r));
  let atSignal = 0;
  while (p.exitCode === null) {
    const lines = fs.existsSync(metrics) ? fs.readFileSync(metrics, 'utf8').split('\n').filter(Boolean).length : 0;
    if (lines >= 1) {
      atSignal = lines;
      p.kill('SIGTERM');
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(await exited).toBe(143);
  expect(err).toMatch(/SIGTERM received: saving a checkpoint after this step/);
  expect(err).toMatch(/contrastive: interrupted by SIGTERM at step \d+\/3000; checkpoint .*; continue with --resume latest/);
  const name = fs.readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim();
  const step = Number(/^step-(\d+)$/.exec(name)![1]);
  expect(step).toBeGreaterThanOrEqual(atSignal);
  expect(step).toBeLessThanOrEqual(atSignal + 2);
  expect(checkpointProblem(path.join(out, 'checkpoints', name))).toBeUndefined();
  expect(fs.existsSync(path.join(out, 'final'))).toBe(false);
  // Resumable: one more step continues the log without a gap or a duplicate.
  await main(contrastive(out, '--steps', String(step + 1), '--log-every', '1', '--resume', 'latest'));
  const steps = fs.readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  expect(steps).toEqual(Array.from({ length: step + 1 }, (_, i) => i + 1));
}, 120000);

test('every image unreadable: the run fails with a count, no final/ model', async () => {
  const bad = path.join(dir, 'bad.tsv');
  const cut = path.join(dir, 'cut.jpg');
  fs.writeFileSync(cut, fs.readFileSync(path.join(IMGS, 'rgb_640x480.jpg')).subarray(0, 20000));
  fs.writeFileSync(bad, `image\tcaption\n${[0, 1, 2, 3].map((i) => `${cut}\tc${i}`).join('\n')}\n`);
  const out = path.join(dir, 'allbad');
  const args = contrastive(out, '--steps', '2');
  args[args.indexOf(pairs)] = bad;
  await expect(main(args)).rejects.toThrow(/^no step trained: all 2 step\(s\) had no usable samples \(8 samples seen, every one skipped\); nothing saved$/);
  expect(fs.existsSync(path.join(out, 'final'))).toBe(false);
  expect(fs.readdirSync(path.join(out, 'checkpoints'))).toEqual([]);
});

test('a learning rate that breaks the model on the last step: no checkpoint, no final/ model', async () => {
  const out = path.join(dir, 'lr');
  // Probe of issue 14: finite loss at step 2, but the updated (finite, huge) weights give NaN.
  await expect(main(contrastive(out, '--steps', '2', '--lr', '1e6', '--lock-image', 'false'))).rejects.toThrow(/^the update of step 2 broke the model: its loss on the same batch is now NaN/);
  expect(fs.existsSync(path.join(out, 'final'))).toBe(false);
  expect(fs.readdirSync(path.join(out, 'checkpoints'))).toEqual([]);
});

test('weights with NaN are refused unless --allow-nonfinite; --max-pixels applies to the images a command reads', async () => {
  const nanDir = path.join(dir, 'nan-model');
  fs.mkdirSync(nanDir);
  for (const f of fs.readdirSync(TINY)) if (f === 'config.json') fs.copyFileSync(path.join(TINY, f), path.join(nanDir, f));
  for (const f of fs.readdirSync(SPM)) fs.copyFileSync(path.join(SPM, f), path.join(nanDir, f));
  // The tiny model with logit_scale set to NaN.
  const { openSafetensors, writeSafetensors } = await import('@altclip/checkpoint');
  const r = await openSafetensors(path.join(TINY, 'model.safetensors'));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const k of r.keys()) {
    const t = await r.read(k);
    tensors.set(k, { shape: t.shape, data: k === 'logit_scale' ? new Float32Array([NaN]) : (t.data as Float32Array) });
  }
  await r.close();
  await writeSafetensors(path.join(nanDir, 'model.safetensors'), tensors, { format: 'pt' });
  const predict = ['predict', '--backend', 'wasm', '--model', nanDir, '--image', path.join(IMGS, 'rgb_640x480.jpg'), '--text', 'a', '--text', 'b', '--json'];
  await expect(main(predict)).rejects.toThrow(`${path.join(nanDir, 'model.safetensors')}: tensor 'logit_scale' has 1 NaN/Inf value(s) of 1; refusing to load it (pass --allow-nonfinite to load anyway)`);
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await main([...predict, '--allow-nonfinite']);
    expect(JSON.parse(log.mock.calls[0][0]).images[0].probs).toEqual([null, null]); // loaded as asked: NaN (JSON null)
    await expect(main([...predict, '--allow-nonfinite', '--max-pixels', '300000'])).rejects.toThrow(/rgb_640x480\.jpg: 640x480 = 307,200 pixels exceeds the limit of 300,000/);
  } finally {
    log.mockRestore();
  }
  // The settings do not leak into the next command.
  await expect(main(predict)).rejects.toThrow(/refusing to load it/);
});
