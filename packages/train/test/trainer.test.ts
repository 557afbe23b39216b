import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { openSafetensors } from '@altclip/checkpoint';
import { tmpDir, maxAbsDiff, tensorflowIfAvailable } from '@altclip/test-utils';
import { computeGradients, train, TrainConfig, NonFiniteLossError, selectTrainable, FeatureTask } from '../src';
import { makeToy, toyData, ToyBatch } from './toy';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

const base: TrainConfig = {
  seed: 3, batchSize: 8, steps: 12, lr: 0.05, schedule: 'cosine', warmup: 2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, gradClip: 1.0, logEvery: 1,
};

test('contrastive-aware accumulation equals the big-batch gradient', () => {
  const toy = makeToy(11);
  const data = toyData(8, 5);
  const batch = data.batch([0, 1, 2, 3, 4, 5, 6, 7]) as any;
  const micro = [data.batch([0, 1]), data.batch([2, 3]), data.batch([4, 5]), data.batch([6, 7])] as any[];
  const ctx = { step: 0, seed: 1, training: true };
  const big = computeGradients(toy.task, toy.params, [batch], ctx, () => 0);
  const acc = computeGradients(toy.task, toy.params, micro, ctx, () => 0);
  expect(acc.loss).toBeCloseTo(big.loss, 5);
  expect([...acc.grads.keys()].sort()).toEqual([...toy.params.keys()].sort());
  for (const [k, g] of big.grads) {
    const a = acc.grads.get(k)!;
    expect(maxAbsDiff(a.dataSync(), g.dataSync())).toBeLessThan(1e-5);
  }
  // Naive accumulation (each micro-batch only sees its own negatives) is a different gradient: the test can fail.
  const naive = micro.map((m) => computeGradients(toy.task, toy.params, [m], ctx, () => 0));
  const k = 'text_projection.weight';
  const naiveSum = naive.map((r) => r.grads.get(k)!.dataSync()).reduce((s, x) => s.map((v, i) => v + x[i] / 4));
  expect(maxAbsDiff(naiveSum, big.grads.get(k)!.dataSync())).toBeGreaterThan(1e-3);
  for (const r of [big, acc, ...naive]) tf.dispose([...r.grads.values()]);
  tf.dispose([batch.text, batch.image, ...micro.flatMap((m) => [m.text, m.image])]);
  toy.dispose();
});

test('accumulation with a loss that reads no parameter (distillation: MSE to a constant target) frees its logged terms', () => {
  const toy = makeToy(5);
  const data = toyData(8, 5);
  // The loss sees only features (no logit_scale), so the full-batch pass finds no parameter; its kept terms must not leak.
  const task: FeatureTask<ToyBatch> = {
    features: toy.task.features,
    constantFeatures: [1],
    loss: ([t, i]) => {
      const mse = tf.mean(tf.squaredDifference(t, i)) as tf.Scalar;
      return { loss: mse, terms: { mse, gap: tf.max(tf.abs(tf.sub(t, i))) as tf.Scalar } };
    },
  };
  const ctx = { step: 0, seed: 1, training: true };
  const batch = data.batch([0, 1, 2, 3, 4, 5, 6, 7]);
  const micro = [data.batch([0, 1, 2, 3]), data.batch([4, 5, 6, 7])];
  const before = tf.memory().numTensors;
  const acc = computeGradients(task, toy.params, micro, ctx, () => 0);
  tf.dispose([...acc.grads.values()]);
  expect(tf.memory().numTensors).toBe(before);
  const big = computeGradients(task, toy.params, [batch], ctx, () => 0);
  expect(acc.loss).toBeCloseTo(big.loss, 6);
  expect(acc.terms.gap).toBeCloseTo(big.terms.gap, 6);
  tf.dispose([...big.grads.values(), batch.text, batch.image, ...micro.flatMap((m) => [m.text, m.image])]);
  toy.dispose();
});

test('overfits 8 pairs to 100% in-batch accuracy, logit_scale stays clamped, tensors do not leak', async () => {
  const toy = makeToy(2);
  const before = tf.memory().numTensors;
  const r = await train({ task: toy.task, params: toy.params, data: toyData(8), config: { ...base, steps: 150, lr: 0.03, warmup: 5, logitScaleMax: 3 }, progress: false });
  const last = r.records[r.records.length - 1];
  expect(last.acc).toBe(1);
  expect(last.loss).toBeLessThan(r.records[0].loss / 3);
  expect(Math.max(...r.records.map((x) => x.logit_scale!))).toBeLessThanOrEqual(3 + 1e-6);
  // numTensors flat across steps (the last step has no prefetched batch) and back to the start after the run.
  const nt = r.records.map((x) => x.num_tensors);
  expect(new Set(nt.slice(0, -1)).size).toBe(1);
  expect(nt[nt.length - 1]).toBe(nt[0] - 2);
  expect(tf.memory().numTensors).toBe(before);
  toy.dispose();
});

test('--seed makes runs with dropout repeatable; another seed gives another run', async () => {
  const run = async (seed: number) => {
    const toy = makeToy(8, { dropout: 0.5 });
    const r = await train({ task: toy.task, params: toy.params, data: toyData(8), config: { ...base, seed, steps: 5 }, progress: false });
    toy.dispose();
    return r.losses;
  };
  const a = await run(3);
  expect(await run(3)).toEqual(a);
  expect(maxAbsDiff(await run(4), a)).toBeGreaterThan(1e-4);
});

test('logit_scale is clamped to [0, ln 100] when trained, left alone when frozen', async () => {
  for (const frozen of [false, true]) {
    const toy = makeToy(9);
    toy.params.get('logit_scale')!.assign(tf.scalar(4.6052)); // BAAI/AltCLIP's value, just above ln 100
    const params = selectTrainable(toy.params, { freezeLogitScale: frozen });
    await train({ task: toy.task, params, allParams: toy.params, data: toyData(8), config: { ...base, steps: 1, lr: 1e-6 }, progress: false });
    const v = toy.params.get('logit_scale')!.dataSync()[0];
    if (frozen) expect(v).toBe(Math.fround(4.6052));
    else expect(v).toBeLessThanOrEqual(Math.fround(Math.log(100)));
    toy.dispose();
  }
});

test('data loading overlaps compute: the next step\'s batch is requested before this step computes', async () => {
  const toy = makeToy(10);
  const events: string[] = [];
  const inner = toyData(8);
  let fetches = 0;
  const data = { size: 8, batch: async (idx: number[]) => {
    events.push(`fetch ${++fetches}`);
    return inner.batch(idx);
  } };
  let computes = 0;
  const task = { ...toy.task, features: (b: any, ctx: any) => {
    // Training passes only: the trainer also probes the updated model (training off) before the final checkpoint.
    if (ctx.micro === 0 && ctx.training) events.push(`compute ${++computes}`);
    return toy.task.features(b, ctx);
  } };
  await train({ task, params: toy.params, data, config: { ...base, batchSize: 4, steps: 3 }, progress: false });
  expect(events).toEqual(['fetch 1', 'fetch 2', 'compute 1', 'fetch 3', 'compute 2', 'compute 3']);
  toy.dispose();
});

test('frozen parameters do not change; the predicate follows HF keys', async () => {
  const toy = makeToy(4);
  const trainable = selectTrainable(toy.params, { lockImage: true });
  expect([...trainable.keys()].sort()).toEqual(['logit_scale', 'text_model.encoder.layers.0.fc.bias', 'text_model.encoder.layers.0.fc.weight', 'text_projection.weight']);
  const vis0 = toy.params.get('vision_model.encoder.layers.0.fc.weight')!.dataSync().slice();
  const txt0 = toy.params.get('text_projection.weight')!.dataSync().slice();
  await train({ task: { ...toy.task, constantFeatures: [1] }, params: trainable, allParams: toy.params, data: toyData(8), config: { ...base, steps: 3, accumSteps: 2 }, progress: false });
  expect(Array.from(toy.params.get('vision_model.encoder.layers.0.fc.weight')!.dataSync())).toEqual(Array.from(vis0));
  expect(maxAbsDiff(toy.params.get('text_projection.weight')!.dataSync(), txt0)).toBeGreaterThan(1e-4);
  toy.dispose();
});

describe('run folders', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir('altclip-train-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  // tensorflow too where tfjs-node is installed (issue 22): checkpoints written and read back through its tensors.
  test.each(['cpu' as const, ...tensorflowIfAvailable('resume')])('resume continues exactly on %s: k steps + resume == N uninterrupted steps', async (backend) => {
    await setupBackend({ backend });
    const cfg = { ...base, steps: 10, batchSize: 4, accumSteps: 2, checkpointEvery: 2, keepLast: 2 };
    // With dropout: its masks must be a function of (seed, step, micro-batch) for the resumed run to match.
    const full = makeToy(5, { dropout: 0.3 });
    const rf = await train({ task: full.task, params: full.params, data: toyData(12), config: cfg, runDir: path.join(dir, 'full'), progress: false });
    // Interrupted run: stop after 4 steps (a run with steps = 4 would change the schedule, so use a hook instead).
    const part = makeToy(5, { dropout: 0.3 });
    const runDir = path.join(dir, 'part');
    let calls = 0;
    const stopAt4 = { ...toyData(12), batch(idx: number[]) {
      if (++calls === 4 * 2 + 1) process.emit('SIGTERM' as any); // while the 5th step's batch is prefetched
      return toyData(12).batch(idx);
    } };
    const r1 = await train({ task: part.task, params: part.params, data: stopAt4, config: cfg, runDir, progress: false });
    expect(r1.status).toBe('interrupted');
    expect(r1.signal).toBe('SIGTERM');
    expect(r1.step).toBeGreaterThanOrEqual(4);
    expect(r1.step).toBeLessThan(10);
    expect(fs.readFileSync(path.join(runDir, 'checkpoints', 'latest'), 'utf8').trim()).toBe(`step-${r1.step}`);
    part.dispose();
    // Fresh model with a different init: everything must come from the checkpoint.
    const res = makeToy(99, { dropout: 0.3 });
    const r2 = await train({ task: res.task, params: res.params, data: toyData(12), config: cfg, runDir, resume: 'latest', progress: false });
    expect(r2.status).toBe('completed');
    const resumed = [...r1.losses, ...r2.losses];
    expect(resumed.length).toBe(10);
    expect(maxAbsDiff(resumed, rf.losses)).toBeLessThan(1e-6);
    for (const k of full.params.keys()) expect(maxAbsDiff(res.params.get(k)!.dataSync(), full.params.get(k)!.dataSync())).toBeLessThan(1e-6);
    // metrics.jsonl has each step once, keep-last-2 pruned older checkpoints.
    const steps = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(fs.readdirSync(path.join(runDir, 'checkpoints')).sort()).toEqual(['latest', 'step-10', 'step-8']);
    expect(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).batchSize).toBe(4);
    const st = JSON.parse(fs.readFileSync(path.join(runDir, 'checkpoints', 'step-10', 'trainer_state.json'), 'utf8'));
    expect(st).toMatchObject({ step: 10, seed: 3, samplesSeen: 40 });
    full.dispose();
    res.dispose();
    await setupBackend({ backend: 'cpu' });
  });

  test('refuses to reuse a run folder without --resume', async () => {
    const toy = makeToy(1);
    const runDir = path.join(dir, 'r');
    await train({ task: toy.task, params: toy.params, data: toyData(8), config: { ...base, steps: 1 }, runDir, progress: false });
    await expect(train({ task: toy.task, params: toy.params, data: toyData(8), config: { ...base, steps: 1 }, runDir, progress: false })).rejects.toThrow(/already exists.*--resume latest/);
    toy.dispose();
  });

  test('a crash while writing a checkpoint leaves the previous one readable and `latest` pointing at it', async () => {
    const toy = makeToy(6);
    const runDir = path.join(dir, 'crash');
    let n = 0;
    const p = train({
      task: toy.task, params: toy.params, data: toyData(8), config: { ...base, steps: 4, checkpointEvery: 2 }, runDir, progress: false,
      beforeCommit: () => {
        if (++n === 2) throw new Error('simulated crash during checkpoint write');
      },
    });
    await expect(p).rejects.toThrow(/simulated crash/);
    expect(fs.readFileSync(path.join(runDir, 'checkpoints', 'latest'), 'utf8').trim()).toBe('step-2');
    const r = await openSafetensors(path.join(runDir, 'checkpoints', 'step-2', 'model.safetensors'));
    expect(r.keys()).toContain('logit_scale');
    await r.close();
    // And it resumes from there.
    const again = makeToy(6);
    const r2 = await train({ task: again.task, params: again.params, data: toyData(8), config: { ...base, steps: 4, checkpointEvery: 2 }, runDir, resume: 'latest', progress: false });
    expect(r2.losses.length).toBe(2);
    toy.dispose();
    again.dispose();
  });

  test('a NaN loss stops with a clear message and leaves the last good checkpoint', async () => {
    const toy = makeToy(7);
    const runDir = path.join(dir, 'nan');
    let ctx = { step: 0, training: true };
    const task = { ...toy.task, features: (b: any, c: any) => ((ctx = c), toy.task.features(b, c)), loss: (f: tf.Tensor[]) => {
      const r = toy.task.loss(f);
      // From the 4th step on the training loss is NaN (0 * log 0 style blow-up); the probes before checkpoints
      // (training off) stay finite.
      return { ...r, loss: tf.mul(r.loss, ctx.training && ctx.step >= 3 ? NaN : 1) as tf.Scalar };
    } };
    await expect(train({ task, params: toy.params, data: toyData(8), config: { ...base, steps: 6, checkpointEvery: 1 }, runDir, progress: false })).rejects.toThrow(NonFiniteLossError);
    expect(fs.readFileSync(path.join(runDir, 'checkpoints', 'latest'), 'utf8').trim()).toBe('step-3');
    toy.dispose();
  });
});
