/**
 * The training loop, as phases: setup and resume (setup.ts), the data order (feed.ts), the step and optimizer
 * update (update.ts), logging (records.ts), evaluation, the checkpoint policy (checkpoints.ts) and signals
 * (signals.ts). What is model-specific comes from the task (its features, loss and after-update hook); how several
 * processes share a run comes from `parallel`.
 */
import * as path from 'path';
import { PRECISIONS, Precision } from '@altclip/models';
import { defaultParamGroups, NO_DECAY_PATTERNS } from '../adamw';
import { checkOnce } from '../options/validate';
import { createProgress, progressMode } from '../progress';
import { saveParams } from '../run';
import { lrAt } from '../schedules';
import { checkpointPolicy, CheckpointPolicy } from './checkpoints';
import { createFeed, Feed, prefetch } from './feed';
import type { StepData, StepStream } from '../sources/types';
import { defaultParallel } from './parallel';
import { evalLine, stepRecord } from './records';
import { OpenRun, openRun } from './setup';
import { deliverPendingSignals, SignalWatch, watchSignals } from './signals';
import { Parallel, TRAIN_DEFAULTS, TrainArgs, TrainConfig, TrainOptimizer, TrainResult } from './types';
import { optimizerStep } from './update';

export * from './types';
export { planSteps } from './feed';
export type { Feed } from './feed';
export { nonFiniteParams } from './setup';
export { evalLine } from './records';
export { SINGLE_PROCESS } from './parallel';

/** What one run's phases share. */
interface Loop<B> {
  a: TrainArgs<B>;
  c: TrainConfig;
  feed: Feed<B>;
  run: OpenRun;
  opt: TrainOptimizer;
  ckpt: CheckpointPolicy<B>;
  signals: SignalWatch;
  result: TrainResult;
  schedule: Parameters<typeof lrAt>[1];
  parallel: Parallel;
  precision: Precision;
  paddingRows: Map<string, number[]>;
  progress: ReturnType<typeof createProgress>;
  log: (s: string) => void;
}

/** The training loop: data order, gradients, clipping, AdamW, schedule, logging, checkpoints, signals. */
export async function train<B>(a: TrainArgs<B>): Promise<TrainResult> {
  // A stage's configuration comes checked; a direct caller's is checked here (the trainer's keys are every stage's).
  checkOnce('distill', a.config, (k) => `train: ${k}`);
  const c: TrainConfig = { ...TRAIN_DEFAULTS, ...a.config };
  const parallel = a.parallel ?? defaultParallel();
  parallel.validate(c);
  const feed = createFeed(a.data, c, parallel);
  const warmupSteps = c.warmup < 1 ? Math.floor(c.warmup * feed.total) : Math.round(c.warmup);
  const allParams = a.allParams ?? a.params;
  const noDecay = c.noDecay ? c.noDecay.map((s) => new RegExp(s)) : NO_DECAY_PATTERNS;
  const paddingRows = a.paddingRows ?? new Map<string, number[]>();
  const opt = parallel.optimizer(a.params, { betas: c.betas, eps: c.eps, weightDecay: c.weightDecay, groups: defaultParamGroups(noDecay), noDecayRows: paddingRows });
  // c.batchSize is the global batch, so on N ranks rank 0's display shows every rank's samples.
  const progress = createProgress({ total: feed.total, label: a.label, every: c.logEvery, samplesPerStep: c.batchSize, ...progressMode(parallel.isWriter ? a.progress : false) });
  const log = (s: string) => {
    if (!parallel.isWriter) return; // rank 0 alone prints
    progress.clear();
    (a.log ?? ((l: string) => process.stderr.write(l + '\n')))(s);
  };
  if (warmupSteps >= feed.total) log(`warning: warmup (${warmupSteps} steps) is not shorter than the run (${feed.total} steps): the learning rate never reaches ${c.lr}`);
  let run: OpenRun;
  try {
    run = await openRun(a, c, opt, feed.source.samplesPerEpoch, parallel.isWriter, log);
  } catch (e) {
    opt.dispose();
    return parallel.fail(e);
  }
  progress.begin(run.state.step);
  const saveModel = a.saveModel ?? ((dir: string) => saveParams(path.join(dir, 'model.safetensors'), allParams));
  const ckpt = checkpointPolicy({ c, total: feed.total, task: a.task, params: a.params, opt, parallel, runDir: a.runDir, resumedFrom: run.resumedFrom, saveModel, beforeCommit: a.beforeCommit });
  const signals = watchSignals(a.handleSignals ?? !!a.runDir, log);
  const result: TrainResult = { status: 'completed', step: run.state.step, totalSteps: feed.total, losses: [], records: [], lastCheckpoint: run.resumedFrom, writer: parallel.isWriter };
  const schedule = { name: c.schedule, lr: c.lr, warmupSteps, totalSteps: feed.total, minLr: c.minLr };
  const loop: Loop<B> = { a, c, feed, run, opt, ckpt, signals, result, schedule, parallel, precision: a.precision ?? PRECISIONS.fp32, paddingRows, progress, log };
  let next: Promise<StepData<B>> | undefined;
  let stream: StepStream<B> | undefined;
  try {
    await parallel.checkInSync(allParams, run.resumedFrom ? `after resuming from ${run.resumedFrom}` : 'at the start');
    stream = await feed.open(run.state);
    next = run.state.step < feed.total ? prefetch(stream) : undefined;
    let skipped = 0;
    while (run.state.step < feed.total) {
      const t0 = Date.now();
      const batches = await next!;
      next = run.state.step + 1 < feed.total ? prefetch(stream) : undefined;
      if (!(await runStep(loop, batches, t0))) skipped++;
      if (run.state.step === feed.total && result.records.length === 0 && skipped > 0 && !run.resumedFrom)
        throw new Error(`no step trained: all ${skipped} step(s) had no usable samples (${run.state.samplesSeen} samples seen, every one skipped); nothing saved`);
      if (c.evalEvery && run.state.step % c.evalEvery === 0) await evaluate(loop);
      if (await afterStep(loop)) return result;
    }
    if (a.evaluate && !(c.evalEvery && run.state.step % c.evalEvery === 0)) await evaluate(loop);
    progress.done();
    signals.finishing();
    if (parallel.isWriter) await a.finalize?.();
    return result;
  } catch (e) {
    return parallel.fail(e);
  } finally {
    // A batch prefetched for a step that will not run.
    if (next) await next.then((p) => p.micro.forEach((b) => feed.release(b)), () => undefined);
    await stream?.close();
    signals.dispose();
    opt.dispose();
    run.close();
  }
}

/** One optimizer step, logged; false when the batch held no usable sample (the step counter still moves on). */
async function runStep<B>(l: Loop<B>, { micro, samples: n, after, position }: StepData<B>, t0: number): Promise<boolean> {
  const { run, c, result } = l;
  const step = run.state.step;
  const advanced = { ...run.state, step: step + 1, epoch: after.epoch, batchInEpoch: after.batchInEpoch, samplesSeen: run.state.samplesSeen + n, data: position };
  // Every rank skips together: a rank without usable samples would otherwise leave the others waiting in a collective.
  if (l.parallel.agree(micro.length === 0, `empty slice at step ${step + 1}`)) {
    // Keeps the step counter (and so the data order and schedule) aligned with an uninterrupted run.
    l.log(`step ${step + 1}: no usable samples in this batch; skipped`);
    run.state = advanced;
    result.step = run.state.step;
    return false;
  }
  const lr = lrAt(step, l.schedule);
  try {
    const out = await optimizerStep({ task: l.a.task, params: l.a.params, micro, step, epoch: run.state.epoch, lr, c, opt: l.opt, parallel: l.parallel, precision: l.precision, paddingRows: l.paddingRows, lastCheckpoint: l.ckpt.last });
    // Probed where every rank agrees a checkpoint follows (a stop signal is agreed on after the step, in afterStep).
    if (l.ckpt.due(step + 1, false)) l.ckpt.assertSavable(step + 1, { micro, lossBefore: out.loss });
    run.state = advanced;
    const rec = stepRecord({ state: run.state, perEpoch: l.feed.perEpoch, out, lr, samples: n, seconds: (Date.now() - t0) / 1000, allParams: l.a.allParams ?? l.a.params });
    result.losses.push(out.loss);
    result.records.push(rec);
    result.step = run.state.step;
    if (run.state.step % (c.logEvery || 1) === 0 || run.state.step === l.feed.total) run.record(rec);
    l.progress.update(run.state.step, { loss: out.loss, lr });
    return true;
  } finally {
    for (const b of micro) l.feed.release(b);
  }
}

/** Checkpoints that are due, and the stop a signal asked for; true when the run stops here. */
async function afterStep<B>(l: Loop<B>): Promise<boolean> {
  const { run, result } = l;
  let saved = false;
  if (l.ckpt.due(run.state.step, false) && !l.signals.requested) {
    await l.ckpt.save(run.state, result.records.length);
    result.lastCheckpoint = l.ckpt.last;
    saved = true;
  }
  await deliverPendingSignals();
  // Ranks may see a signal at different steps: all stop after the first step any of them saw it.
  if (!l.parallel.agree(!!l.signals.requested, `stop signal after step ${run.state.step}`)) return false;
  const sig = l.signals.requested ?? 'SIGTERM';
  if (!saved) await l.ckpt.save(run.state, result.records.length);
  result.lastCheckpoint = l.ckpt.last;
  l.progress.done();
  l.log(`stopped by ${sig} at step ${run.state.step}/${l.feed.total}${result.lastCheckpoint ? `; resume with --resume latest (checkpoint ${result.lastCheckpoint})` : ''}`);
  result.status = 'interrupted';
  result.signal = sig;
  return true;
}

/** Zero-shot (or any) evaluation of the model being trained; numbers go to metrics.jsonl under `eval`. */
async function evaluate<B>(l: Loop<B>): Promise<void> {
  if (!l.a.evaluate) return;
  const ev = await l.precision.autocast(() => l.a.evaluate!(l.run.state.step));
  l.run.record({ step: l.run.state.step, epoch: l.run.state.epoch, eval: ev });
  l.log(evalLine(l.run.state.step, ev));
}

/** Exit status for an interrupted run (128 + signal number), 0 otherwise. */
export function exitCodeFor(r: TrainResult): number {
  if (r.status !== 'interrupted') return 0;
  return r.signal === 'SIGINT' ? 130 : 143;
}
