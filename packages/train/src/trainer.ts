import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, defaultParamGroups, NO_DECAY_PATTERNS } from './adamw';
import { clipByGlobalNorm, computeGradients, evalLoss, FeatureTask } from './grads';
import { maskGradRows } from './params';
import { createProgress, progressMode, ProgressMode } from './progress';
import { hashInts } from './rng';
import { configHash, loadCheckpoint, loadParams, MetricsLog, parseLoggers, prepareRunDir, resolveCheckpoint, saveCheckpoint, saveParams, TrainerState } from './run';
import { lrAt, ScheduleName } from './schedules';
import { TensorBoardLog } from './tensorboard';
import { validateOptions } from './validate';
import { atomicWriteFile } from '@altclip/checkpoint';
import { indexedSource } from './sources/indexed';
import { DataSource, isDataSource, StepData, StepStream } from './sources/types';

/** Everything that shapes the optimisation trajectory (hashed into checkpoints) plus logging cadence. */
export interface TrainConfig {
  seed: number;
  /** Samples per optimizer step (the global batch). */
  batchSize: number;
  /** Micro-batches per optimizer step (gradient accumulation); batchSize is split evenly. Default 1. */
  accumSteps?: number;
  /** Stop after this many epochs and/or steps (whichever comes first). */
  epochs?: number;
  steps?: number;
  shuffle?: boolean;
  /** Drop the last incomplete batch of each epoch (default false, as FlagAI). */
  dropLast?: boolean;
  lr: number;
  schedule: ScheduleName;
  /** Warmup steps; a value below 1 is a fraction of the total steps (FlagAI's warm_up = 0.1). */
  warmup: number;
  minLr?: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Regexes (as strings) of keys without weight decay; default: biases, LayerNorm weights, logit_scale. */
  noDecay?: string[];
  /** Max global gradient norm (0 or undefined: no clipping, but the norm is still logged). */
  gradClip?: number;
  /** logit_scale is clamped to [0, logitScaleMax] after each step (default ln 100). */
  logitScaleMax?: number;
  logEvery?: number;
  /** Save a checkpoint every N steps (and always at the end / on a signal). 0: only at the end. */
  checkpointEvery?: number;
  keepLast?: number;
  evalEvery?: number;
  /** Metrics loggers besides metrics.jsonl: "tensorboard" (comma-separated string or list). */
  logger?: string | string[];
}

export const TRAIN_DEFAULTS: Omit<TrainConfig, 'batchSize' | 'lr'> = {
  seed: 0,
  accumSteps: 1,
  shuffle: true,
  dropLast: false,
  schedule: 'cosine',
  warmup: 0,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0.1,
  gradClip: 1.0,
  logitScaleMax: Math.log(100),
  logEvery: 10,
  checkpointEvery: 0,
  keepLast: 3,
  evalEvery: 0,
};

/** Random-access batches: the trainer decides the order (seeded) so a resumed run sees the same batches. */
export interface BatchSource<B> {
  size: number;
  /** null: nothing usable in these indices (e.g. every image unreadable); the micro-batch is skipped. */
  batch(indices: number[]): Promise<B | null> | B | null;
  /** Frees a batch after its step (default: disposes every tf.Tensor among the batch's own properties). */
  release?(batch: B): void;
}

function releaseBatch<B>(src: { release?(b: B): void }, b: B): void {
  if (src.release) return src.release(b);
  if (b instanceof tf.Tensor) return b.dispose();
  if (b && typeof b === 'object') for (const v of Object.values(b as object)) if (v instanceof tf.Tensor) v.dispose();
}

export interface TrainArgs<B> {
  task: FeatureTask<B>;
  /** Trainable parameters by HF key. */
  params: Map<string, tf.Variable>;
  /** Every parameter (restored on resume; default `params`). */
  allParams?: Map<string, tf.Variable>;
  /** Indexed batches (ordered by the trainer) or a DataSource (streams: WebDataset shards, a streamed corpus). */
  data: BatchSource<B> | DataSource<B>;
  config: TrainConfig;
  /** Run folder; without it nothing is written (tests, in-memory use). */
  runDir?: string;
  /** 'latest', a checkpoint folder or a run folder. */
  resume?: string;
  /** Written to config.json (default: `config`). */
  runConfig?: unknown;
  /** Writes the model in its HF layout into a folder (default: all parameters as model.safetensors). */
  saveModel?: (dir: string) => Promise<void>;
  /** Called every evalEvery steps and at the end; numbers land in metrics.jsonl under `eval`. */
  evaluate?: (step: number) => Promise<Record<string, number>>;
  /** Rows that get zero gradient and no weight decay (torch padding_idx rows): key -> rows. */
  paddingRows?: Map<string, number[]>;
  /** Install SIGINT/SIGTERM handlers that checkpoint and stop (default: true when runDir is set). */
  handleSignals?: boolean;
  progress?: ProgressMode;
  label?: string;
  /** Messages (resume, signals, evaluation); default stderr, even with progress off. */
  log?: (line: string) => void;
  /** Test hook: runs before each checkpoint is committed. */
  beforeCommit?: (tmpDir: string) => Promise<void> | void;
}

export interface StepRecord {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  samples_per_s: number;
  logit_scale?: number;
  num_tensors: number;
  rss_mib: number;
  [term: string]: number | undefined;
}

export interface TrainResult {
  status: 'completed' | 'interrupted';
  signal?: 'SIGINT' | 'SIGTERM';
  /** Steps completed (the run's optimizer step counter). */
  step: number;
  totalSteps: number;
  /** Loss of every step this call ran. */
  losses: number[];
  records: StepRecord[];
  lastCheckpoint?: string;
}

export class NonFiniteLossError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
}

/** Keys of the parameters holding NaN/Inf (one small reduction per tensor, one read for all). */
export function nonFiniteParams(params: Map<string, tf.Variable>): string[] {
  const keys = [...params.keys()];
  if (!keys.length) return [];
  // sum(v * 0) is 0 when every element is finite and NaN otherwise (0 * NaN and 0 * Inf are NaN); Mul and Sum
  // exist on every backend, unlike IsFinite/All.
  const sums = keys.map((k) => tf.tidy(() => tf.sum(tf.mul(params.get(k)!, 0))));
  const v = tf.tidy(() => tf.stack(sums).dataSync());
  tf.dispose(sums);
  return keys.filter((_, i) => v[i] !== 0);
}

/** Steps per epoch and the run's total optimizer steps. */
export function planSteps(size: number, c: Pick<TrainConfig, 'batchSize' | 'epochs' | 'steps' | 'dropLast'>): { perEpoch: number; total: number } {
  if (size <= 0) throw new Error('the training set is empty');
  const perEpoch = c.dropLast ? Math.floor(size / c.batchSize) : Math.ceil(size / c.batchSize);
  if (perEpoch === 0) throw new Error(`batch size ${c.batchSize} exceeds the ${size} samples with dropLast on`);
  if (c.epochs === undefined && c.steps === undefined) throw new Error('set epochs or steps');
  const total = Math.min(c.steps ?? Infinity, c.epochs !== undefined ? Math.ceil(c.epochs * perEpoch) : Infinity);
  return { perEpoch, total };
}

/** Fields that do not change the trajectory are left out of the hash, so a run can be resumed with more steps. */
function trajectoryHash(c: TrainConfig): string {
  const { steps, epochs, logEvery, checkpointEvery, keepLast, evalEvery, logger, ...rest } = c;
  return configHash(rest);
}

/** The training loop: data order, gradients, clipping, AdamW, schedule, logging, checkpoints, signals. */
export async function train<B>(a: TrainArgs<B>): Promise<TrainResult> {
  const c: TrainConfig = { ...TRAIN_DEFAULTS, ...a.config } as TrainConfig;
  validateOptions(c as unknown as Record<string, unknown>, (k) => `train: ${k}`);
  const source: DataSource<B> = isDataSource<B>(a.data) ? a.data : indexedSource(a.data);
  const { perEpoch, total } = planSteps(source.samplesPerEpoch, c);
  const warmupSteps = c.warmup < 1 ? Math.floor(c.warmup * total) : Math.round(c.warmup);
  const schedule = { name: c.schedule, lr: c.lr, warmupSteps, totalSteps: total, minLr: c.minLr };
  const accum = Math.max(1, c.accumSteps ?? 1);
  const allParams = a.allParams ?? a.params;
  const saveModel = a.saveModel ?? ((dir: string) => saveParams(path.join(dir, 'model.safetensors'), allParams));
  const paddingRows = a.paddingRows ?? new Map<string, number[]>();
  const noDecay = c.noDecay ? c.noDecay.map((s) => new RegExp(s)) : NO_DECAY_PATTERNS;
  const opt = new AdamW(a.params, { betas: c.betas, eps: c.eps, weightDecay: c.weightDecay, groups: defaultParamGroups(noDecay), noDecayRows: paddingRows });
  const hash = trajectoryHash(c);
  const loggers = parseLoggers(c.logger);
  const log = (s: string) => {
    progress.clear();
    if (a.log) a.log(s);
    else process.stderr.write(s + '\n');
  };

  let state: TrainerState = { step: 0, epoch: 0, batchInEpoch: 0, samplesSeen: 0, dataSize: source.samplesPerEpoch, seed: c.seed, configHash: hash, time: '' };
  let metrics: MetricsLog | undefined;
  let tb: TensorBoardLog | undefined;
  let resumedFrom: string | undefined;
  const progress = createProgress({ total, label: a.label, every: c.logEvery, ...progressMode(a.progress) });
  if (warmupSteps >= total) log(`warning: warmup (${warmupSteps} steps) is not shorter than the run (${total} steps): the learning rate never reaches ${c.lr}`);
  const tbDir = a.runDir && loggers.has('tensorboard') ? path.join(a.runDir, 'tensorboard') : undefined;
  let tbFresh = false;
  // Held until train() returns or throws, so a second process on the same run folder is refused up front.
  let unlock = () => {};
  try {
    if (a.runDir) {
      unlock = prepareRunDir(a.runDir, !!a.resume, log);
      metrics = new MetricsLog(path.join(a.runDir, 'metrics.jsonl'));
      if (!a.resume) await atomicWriteFile(path.join(a.runDir, 'config.json'), [JSON.stringify(a.runConfig ?? c, null, 2) + '\n']);
    }
    tbFresh = tbDir ? !TensorBoardLog.exists(tbDir) : false;
    if (a.resume) {
      const ck = resolveCheckpoint(a.runDir ?? '', a.resume, log);
      await loadParams(ck, allParams);
      state = await loadCheckpoint(ck, opt);
      resumedFrom = ck;
      if (state.seed !== c.seed) throw new Error(`cannot resume ${ck}: it was trained with seed ${state.seed}, this run has seed ${c.seed}`);
      if (state.dataSize !== undefined && state.dataSize !== source.samplesPerEpoch)
        log(`warning: ${ck} was trained on ${state.dataSize} samples, the data now has ${source.samplesPerEpoch}: the sample order will not continue the interrupted run's`);
      state.dataSize = source.samplesPerEpoch;
      if (state.configHash !== hash) log(`warning: ${ck} was written with a different training configuration (hash ${state.configHash} vs ${hash}); continuing`);
      metrics?.truncateAfter(state.step);
      if (tbDir) tb = new TensorBoardLog(tbDir, { resumedAtStep: state.step });
      log(`resumed from ${ck} at step ${state.step} (epoch ${state.epoch}, batch ${state.batchInEpoch})`);
    }
  } catch (e) {
    opt.dispose();
    unlock();
    throw e;
  }

  if (tbDir) {
    tb ??= new TensorBoardLog(tbDir);
    // Indented four spaces: the text plugin renders markdown, and this keeps the JSON as a code block.
    if (tbFresh) tb.text('config', JSON.stringify(a.runConfig ?? c, null, 2).replace(/^/gm, '    '), state.step);
  }
  const logRecord = (rec: Record<string, unknown>) => {
    metrics?.write(rec);
    tb?.write(rec);
  };

  // Signals: finish the current step, checkpoint, stop. A second signal exits at once (writes are atomic).
  let stopSignal: 'SIGINT' | 'SIGTERM' | undefined;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (stopSignal) {
      process.stderr.write(`\n${sig} again: exiting without waiting for the checkpoint\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    stopSignal = sig;
    log(`${sig} received: saving a checkpoint after this step, then stopping (send it again to quit at once)`);
  };
  const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };
  const signals = a.handleSignals ?? !!a.runDir;
  if (signals) for (const [s, h] of Object.entries(handlers)) process.on(s, h);

  let stream: StepStream<B> | undefined;
  const fetchStep = (): Promise<StepData<B>> => {
    const p = stream!.next();
    p.catch(() => undefined); // surfaced when awaited
    return p;
  };

  const willSave = (step: number) => !!stopSignal || step === total || (!!c.checkpointEvery && step % c.checkpointEvery === 0);
  const result: TrainResult = { status: 'completed', step: state.step, totalSteps: total, losses: [], records: [], lastCheckpoint: resumedFrom };
  /**
   * A blow-up in the last update leaves a finite loss but NaN weights, or finite weights that overflow in the forward
   * pass: either model predicts only NaN. Checked before every checkpoint and so before the final model; `probe` (the
   * step's batch) adds the forward pass.
   */
  const assertSavable = (step: number, probe?: { micro: B[]; lossBefore: number }) => {
    const last = result.lastCheckpoint ? `Last good checkpoint: ${result.lastCheckpoint}` : 'No checkpoint was written yet';
    const bad = nonFiniteParams(a.params);
    if (bad.length)
      throw new NonFiniteLossError(
        `parameters hold NaN/Inf after step ${step} (${bad.length} tensor(s), e.g. '${bad[0]}'); not saving them. ${last}. ` +
          `Lower the learning rate (${c.lr}) or clip gradients (--grad-clip).`,
      );
    if (!probe) return;
    const after = evalLoss(a.task, probe.micro, { step: step - 1, seed: c.seed });
    if (!Number.isFinite(after))
      throw new NonFiniteLossError(
        `the update of step ${step} broke the model: its loss on the same batch is now ${after} (was ${probe.lossBefore}); not saving it. ${last}. ` +
          `Lower the learning rate (${c.lr}).`,
      );
  };
  const checkpoint = async () => {
    assertSavable(state.step);
    // Nothing trained yet (every batch so far unusable): an untouched model is not worth a checkpoint.
    if (!a.runDir || (result.records.length === 0 && !resumedFrom)) return;
    state.time = new Date().toISOString();
    result.lastCheckpoint = await saveCheckpoint({ runDir: a.runDir, state, optimizer: opt, saveModel, keepLast: c.keepLast, beforeCommit: a.beforeCommit });
  };
  // Clamped only when trained: a frozen logit_scale (e.g. BAAI/AltCLIP's 4.6052 > ln 100) stays as loaded.
  const logitScale = a.params.get('logit_scale');
  const runEval = async () => {
    if (!a.evaluate) return;
    const ev = await a.evaluate(state.step);
    logRecord({ step: state.step, epoch: state.epoch, eval: ev });
    log(`eval @ step ${state.step}: ${Object.entries(ev).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ')}`);
  };

  let next: Promise<StepData<B>> | undefined;
  try {
    const plan = { batchSize: c.batchSize, accumSteps: accum, seed: c.seed, shuffle: c.shuffle !== false, dropLast: !!c.dropLast, rank: 0, worldSize: 1 };
    stream = await source.open(plan, state.data ?? { epoch: state.epoch, batchInEpoch: state.batchInEpoch });
    next = state.step < total ? fetchStep() : undefined;
    let savedAt = -1;
    let skippedSteps = 0;
    while (state.step < total) {
      const t0 = Date.now();
      const { micro, samples: n, after: pos, position } = await next!;
      next = undefined;
      next = state.step + 1 < total ? fetchStep() : undefined;
      const lr = lrAt(state.step, schedule);
      const stepIdx = state.step;
      if (micro.length === 0) {
        // Keeps the step counter (and so the data order and schedule) aligned with an uninterrupted run.
        log(`step ${stepIdx + 1}: no usable samples in this batch; skipped`);
        state = { ...state, step: stepIdx + 1, epoch: pos.epoch, batchInEpoch: pos.batchInEpoch, samplesSeen: state.samplesSeen + n, data: position };
        result.step = state.step;
        skippedSteps++;
      } else {
        const g = computeGradients(a.task, a.params, micro, { step: stepIdx, seed: c.seed, training: true }, (i) => hashInts(c.seed, stepIdx, i));
        let grads = g.grads;
        try {
          if (!Number.isFinite(g.loss))
            throw new NonFiniteLossError(
              `loss is ${g.loss} at step ${stepIdx + 1} (epoch ${state.epoch}); stopping without updating. ` +
                (result.lastCheckpoint ? `Last good checkpoint: ${result.lastCheckpoint}` : 'No checkpoint was written yet') +
                '. Lower the learning rate or check the data.',
            );
          const masked = maskGradRows(grads, paddingRows);
          for (const [k, t] of grads) if (masked.get(k) !== t) t.dispose();
          grads = masked;
          const norm = clipByGlobalNorm(grads, c.gradClip);
          if (!Number.isFinite(norm)) throw new NonFiniteLossError(`gradient norm is ${norm} at step ${stepIdx + 1} (loss ${g.loss}); stopping without updating`);
          opt.step(grads, lr, { disposeGrads: true }); // each gradient freed as soon as its update is done
          if (logitScale) tf.tidy(() => logitScale.assign(tf.clipByValue(logitScale, 0, c.logitScaleMax ?? Math.log(100))));
          if (willSave(stepIdx + 1)) assertSavable(stepIdx + 1, { micro, lossBefore: g.loss });
          state = { ...state, step: stepIdx + 1, epoch: pos.epoch, batchInEpoch: pos.batchInEpoch, samplesSeen: state.samplesSeen + n, data: position };
          const dt = (Date.now() - t0) / 1000;
          const rec: StepRecord = {
            step: state.step,
            // epochs completed, fractional (2.5 = half way through the third epoch)
            epoch: +(state.epoch + state.batchInEpoch / perEpoch).toFixed(4),
            loss: g.loss,
            ...g.terms,
            lr,
            grad_norm: norm,
            samples_per_s: n / Math.max(dt, 1e-9),
            logit_scale: allParams.get('logit_scale')?.dataSync()[0],
            num_tensors: tf.memory().numTensors,
            rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
          };
          result.losses.push(g.loss);
          result.records.push(rec);
          result.step = state.step;
          if (state.step % (c.logEvery || 1) === 0 || state.step === total) logRecord(rec);
          progress.update(state.step, { loss: g.loss, lr });
        } finally {
          tf.dispose([...grads.values()]);
          for (const b of micro) releaseBatch(source, b);
        }
      }
      if (state.step === total && result.records.length === 0 && skippedSteps > 0 && !resumedFrom)
        throw new Error(`no step trained: all ${skippedSteps} step(s) had no usable samples (${state.samplesSeen} samples seen, every one skipped); nothing saved`);
      if (c.evalEvery && state.step % c.evalEvery === 0) await runEval();
      if (willSave(state.step) && !stopSignal) {
        await checkpoint();
        savedAt = state.step;
      }
      // Steps can be fully synchronous (tensors on the main thread, batches ready): yield once so that a SIGINT or
      // SIGTERM that arrived during this step is delivered now, not at the next real I/O.
      await new Promise((r) => setImmediate(r));
      if (stopSignal) {
        if (savedAt !== state.step) await checkpoint();
        progress.done();
        log(`stopped by ${stopSignal} at step ${state.step}/${total}${result.lastCheckpoint ? `; resume with --resume latest (checkpoint ${result.lastCheckpoint})` : ''}`);
        result.status = 'interrupted';
        result.signal = stopSignal;
        return result;
      }
    }
    if (a.evaluate && !(c.evalEvery && state.step % c.evalEvery === 0)) await runEval();
    progress.done();
    return result;
  } finally {
    // A batch prefetched for a step that will not run.
    if (next) await next.then((p) => p.micro.forEach((b) => releaseBatch(source, b)), () => undefined);
    await stream?.close();
    if (signals) for (const [s, h] of Object.entries(handlers)) process.off(s, h);
    opt.dispose();
    unlock();
  }
}

/** Exit status for an interrupted run (128 + signal number), 0 otherwise. */
export function exitCodeFor(r: TrainResult): number {
  if (r.status !== 'interrupted') return 0;
  return r.signal === 'SIGINT' ? 130 : 143;
}
