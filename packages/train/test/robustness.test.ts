import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { setAllowNonFiniteWeights } from '@altclip/models';
import { tmpDir } from '@altclip/test-utils';
import { train, TrainConfig, NonFiniteLossError, lockFile, nonFiniteParams, saveParams, checkOnce } from '../src';
import { makeToy, toyData } from './toy';

const base: TrainConfig = {
  seed: 3, batchSize: 4, steps: 4, lr: 0.05, schedule: 'constant', warmup: 0, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, gradClip: 1.0, logEvery: 1,
};
const quiet = { progress: false, log: () => undefined };

let dir: string;
beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
  dir = tmpDir('altclip-robust-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the trainer refuses invalid settings itself (library callers, config files), one line per problem', async () => {
  const toy = makeToy(1);
  for (const [bad, re] of [
    [{ batchSize: 0 }, /^train: batchSize must be an integer >= 1, got 0$/],
    [{ steps: 2.5 }, /^train: steps must be an integer >= 1, got 2\.5$/],
    [{ lr: NaN }, /^train: lr must be a finite number >= 0, got NaN$/],
    [{ accumSteps: 0 }, /^train: accumSteps must be an integer >= 1, got 0$/],
    [{ betas: [1.5, 2] }, /^train: betas must be two numbers in \[0, 1\)/],
  ] as [Partial<TrainConfig>, RegExp][])
    await expect(train({ task: toy.task, params: toy.params, data: toyData(8), config: { ...base, ...bad }, ...quiet })).rejects.toThrow(re);
  expect(() => checkOnce('distill', { steps: -5, warmup: -3, gradClip: -1 })).toThrow(/^distill: steps \(--steps\) .*\ndistill: warmup \(--warmup\) .*\ndistill: gradClip \(--grad-clip\) .*$/);
  toy.dispose();
});

test('NaN guard: an update that leaves NaN/Inf weights is never saved (checkpoint or final), the error names a tensor', async () => {
  const toy = makeToy(2);
  const runDir = path.join(dir, 'nan');
  // lr 1e39 is a finite double but Inf in float32: the first update makes the weights non-finite while the loss
  // of that step (computed before the update) is finite, so only a check of the weights can catch it.
  const err = await train({ task: toy.task, params: toy.params, data: toyData(8), config: { ...base, steps: 1, lr: 1e39 }, runDir, ...quiet }).catch((e) => e);
  expect(err).toBeInstanceOf(NonFiniteLossError);
  expect(err.message).toMatch(/parameters hold NaN\/Inf after step 1 \(\d+ tensor\(s\), e\.g\. '[a-z_.0-9]+'\); not saving them/);
  expect(fs.readdirSync(path.join(runDir, 'checkpoints'))).toEqual([]);
  expect(fs.existsSync(lockFile(runDir))).toBe(false);
  expect(nonFiniteParams(toy.params).length).toBeGreaterThan(0);
  toy.dispose();
});

test('NaN guard: weights that stay finite but overflow in the forward pass are not saved either', async () => {
  const toy = makeToy(3);
  const runDir = path.join(dir, 'overflow');
  // A forward pass that overflows once the weights moved: 0 * exp(1e30 * |W - W0|^2) is 0 (and so is its gradient)
  // at the start, NaN (0 * Inf) after any update, while every weight stays finite.
  const W = toy.params.get('text_projection.weight')!;
  const w0 = tf.keep(W.clone());
  const task = {
    ...toy.task,
    loss: (f: tf.Tensor[]) => {
      const r = toy.task.loss(f);
      return { ...r, loss: tf.add(r.loss, tf.mul(0, tf.exp(tf.mul(1e30, tf.sum(tf.square(tf.sub(W, w0))))))) as tf.Scalar };
    },
  };
  const err = await train({ task, params: toy.params, data: toyData(8), config: { ...base, steps: 1 }, runDir, ...quiet }).catch((e) => e);
  expect(err).toBeInstanceOf(NonFiniteLossError);
  expect(err.message).toMatch(/the update of step 1 broke the model: its loss on the same batch is now NaN \(was [0-9.]+\); not saving it/);
  expect(fs.readdirSync(path.join(runDir, 'checkpoints'))).toEqual([]);
  expect(nonFiniteParams(toy.params)).toEqual([]);
  w0.dispose();
  toy.dispose();
});

test('a run whose every batch was unusable fails with a count and writes no checkpoint', async () => {
  const toy = makeToy(4);
  const runDir = path.join(dir, 'skipped');
  const data = { size: 8, batch: () => null };
  await expect(train({ task: toy.task, params: toy.params, data, config: { ...base, steps: 3, checkpointEvery: 1 }, runDir, ...quiet })).rejects.toThrow(
    /^no step trained: all 3 step\(s\) had no usable samples \(12 samples seen, every one skipped\); nothing saved$/,
  );
  expect(fs.existsSync(path.join(runDir, 'checkpoints', 'latest'))).toBe(false);
  // Some usable batches: the run completes, and the skipped last step still gets the final checkpoint.
  const toy2 = makeToy(4);
  const inner = toyData(8);
  const some = { size: 8, batch: (idx: number[]) => (idx.includes(0) ? inner.batch(idx) : null) };
  const r = await train({ task: toy2.task, params: toy2.params, data: some, config: { ...base, batchSize: 4, steps: 2, shuffle: false }, runDir: path.join(dir, 'some'), ...quiet });
  expect(r.records.length).toBe(1);
  expect(fs.readFileSync(path.join(dir, 'some', 'checkpoints', 'latest'), 'utf8').trim()).toBe('step-2');
  toy.dispose();
  toy2.dispose();
});

test('lock: a live holder is refused by pid; a stale lock (dead pid) is replaced with a warning; released after', async () => {
  const toy = makeToy(5);
  const runDir = path.join(dir, 'locked');
  fs.mkdirSync(runDir);
  const host = require('os').hostname();
  fs.writeFileSync(lockFile(runDir), JSON.stringify({ pid: process.pid, host, started: 'x' }));
  await expect(train({ task: toy.task, params: toy.params, data: toyData(8), config: base, runDir, ...quiet })).rejects.toThrow(
    new RegExp(`run folder ${runDir} is in use by process ${process.pid} .*delete ${lockFile(runDir)}`),
  );
  expect(fs.existsSync(path.join(runDir, 'config.json'))).toBe(false);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  fs.writeFileSync(lockFile(runDir), JSON.stringify({ pid: dead, host, started: 'x' }));
  const logs: string[] = [];
  const r = await train({ task: toy.task, params: toy.params, data: toyData(8), config: base, runDir, progress: false, log: (l) => logs.push(l) });
  expect(r.status).toBe('completed');
  expect(logs.some((l) => l.includes(`removing the stale lock ${lockFile(runDir)} (process ${dead} no longer runs)`))).toBe(true);
  expect(fs.existsSync(lockFile(runDir))).toBe(false);
  toy.dispose();
});

test('corrupt trainer_state.json / latest: errors name the file; --resume latest falls back to the newest complete checkpoint', async () => {
  const runDir = path.join(dir, 'corrupt');
  const cfg = { ...base, steps: 4, checkpointEvery: 1, keepLast: 3 };
  const toy = makeToy(6);
  await train({ task: toy.task, params: toy.params, data: toyData(8), config: cfg, runDir, ...quiet });
  toy.dispose();
  const ck = (n: number) => path.join(runDir, 'checkpoints', `step-${n}`);
  const stateFile = path.join(ck(4), 'trainer_state.json');
  fs.writeFileSync(stateFile, fs.readFileSync(stateFile, 'utf8').slice(0, 20)); // torn write
  const resume = async (which: string, steps: number) => {
    const t = makeToy(6);
    const logs: string[] = [];
    try {
      return { r: await train({ task: t.task, params: t.params, data: toyData(8), config: { ...cfg, steps }, runDir, resume: which, progress: false, log: (l) => logs.push(l) }), logs };
    } finally {
      t.dispose();
    }
  };
  await expect(resume(ck(4), 5)).rejects.toThrow(new RegExp(`cannot resume from ${ck(4)}: ${stateFile}: invalid JSON \\(`));
  const a = await resume('latest', 5);
  expect(a.logs.some((l) => l.startsWith(`warning: ${path.join(runDir, 'checkpoints', 'latest')} names a broken checkpoint: ${stateFile}: invalid JSON`) && l.endsWith(`resuming from the newest complete checkpoint ${ck(3)} instead`))).toBe(true);
  expect(a.logs.some((l) => l.startsWith(`resumed from ${ck(3)} at step 3`))).toBe(true);
  expect(a.r.records.map((x) => x.step)).toEqual([4, 5]);
  // `latest` itself torn: the newest complete checkpoint (step-5 now) is used.
  fs.writeFileSync(path.join(runDir, 'checkpoints', 'latest'), 'st');
  const b = await resume('latest', 6);
  expect(b.logs.some((l) => l.includes('is corrupt') && l.includes(`resuming from the newest complete checkpoint ${ck(5)}`))).toBe(true);
  expect(b.r.records.map((x) => x.step)).toEqual([6]);
});

test('resume refuses a checkpoint whose weights hold NaN (unless allowed), naming the file and tensor', async () => {
  const runDir = path.join(dir, 'nanck');
  const toy = makeToy(7);
  await train({ task: toy.task, params: toy.params, data: toyData(8), config: { ...base, steps: 2 }, runDir, ...quiet });
  const ck = path.join(runDir, 'checkpoints', 'step-2');
  const k = 'text_projection.weight';
  toy.params.get(k)!.assign(tf.fill(toy.params.get(k)!.shape, NaN));
  await saveParams(path.join(ck, 'model.safetensors'), toy.params);
  toy.dispose();
  const t = makeToy(7);
  const go = () => train({ task: t.task, params: t.params, data: toyData(8), config: { ...base, steps: 3 }, runDir, resume: 'latest', ...quiet });
  await expect(go()).rejects.toThrow(`${path.join(ck, 'model.safetensors')}: tensor '${k}' has 32 NaN/Inf value(s) of 32; refusing to load it (pass --allow-nonfinite to load anyway)`);
  setAllowNonFiniteWeights(true);
  try {
    // Loaded as asked; the NaN weights then give a NaN loss, which stops the run.
    await expect(go()).rejects.toThrow(/loss is NaN at step 3/);
  } finally {
    setAllowNonFiniteWeights(false);
    t.dispose();
  }
});

test('two processes on one run folder: the second is refused by the lock; metrics.jsonl gets one line per step', async () => {
  const CHILD = [path.join(__dirname, 'child', 'register-ts.js'), path.join(__dirname, 'child', 'train-child.ts')];
  const runDir = path.join(dir, 'two');
  const start = (mode: string) => spawn(process.execPath, ['-r', CHILD[0], CHILD[1], runDir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = (p: ReturnType<typeof start>) => new Promise<number | null>((resolve) => (p.exitCode !== null ? resolve(p.exitCode) : p.on('exit', (c) => resolve(c))));
  // 'forever': a checkpoint after every step, so the second process finds a `latest` to resume from.
  const first = start('forever');
  let out = '';
  await new Promise<void>((resolve) => first.stdout.on('data', (d) => ((out += d), out.includes('batch 5\n') && resolve())));
  const second = start('resume');
  let err = '';
  second.stderr.on('data', (x) => (err += x));
  expect(await exited(second)).toBe(1);
  expect(err).toContain(`run folder ${runDir} is in use by process ${first.pid}`);
  first.kill('SIGTERM');
  expect(await exited(first)).toBe(143);
  const steps = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
  expect(fs.existsSync(lockFile(runDir))).toBe(false);
});
