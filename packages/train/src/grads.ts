import * as tf from '@tensorflow/tfjs-core';
import { registerGradients, valueAndGrads } from '@altclip/backend';
import { withDropoutKeys } from '@altclip/models';
import type { Collective } from '@altclip/mpi';
import { withSeededRandom } from './rng';
import { nativeOptimizerOps } from './native-optional';
import { gatherRows } from './parallel/gather';

// tfjs-core's CommonJS entry registers no gradients (setupBackend does; this covers callers that skipped it).
registerGradients();

/** What a task sees while computing features for one micro-batch. */
export interface StepContext {
  /** Optimizer step index (0-based). */
  step: number;
  /** Micro-batch index inside this rank's share of the step. */
  micro: number;
  /** The step's seed (run seed, step): Math.random is seeded with it around every features() call. */
  seed: number;
  /** True when dropout etc. should be active. */
  training: boolean;
  /** During the gradient pass of accumulation: this micro-batch's features from the cache pass (reuse constant ones). */
  cached?: tf.Tensor[];
}

/** Rows [start, start + count) of the global batch: the rows one rank holds. */
export interface RowRange {
  start: number;
  count: number;
}

/**
 * The model-specific half of training. The trainer knows nothing else about the model.
 * Loss is a function of the features of the whole global batch (every micro-batch of every rank), so accumulation
 * and data parallelism keep every negative of a contrastive loss and equal the one-process big-batch gradient.
 */
export interface FeatureTask<B> {
  /** Features of one micro-batch, each [n, ...] with the batch on axis 0 (e.g. [textEmb, imageEmb]). */
  features(batch: B, ctx: StepContext): tf.Tensor[];
  /** Feature slots that do not depend on trainable parameters (a frozen tower, distillation targets). */
  constantFeatures?: number[];
  /** Loss (mean over the whole batch) of features concatenated over the batch; `terms` are logged. */
  loss(features: tf.Tensor[]): { loss: tf.Scalar; terms?: Record<string, tf.Scalar> };
  /**
   * open_clip's local loss: the loss of `rows` against every row of `features` (the global batch), such that the
   * loss of the batch is sum over row ranges of (count / B) * localLoss. Needed for `--local-loss`.
   */
  localLoss?(features: tf.Tensor[], rows: RowRange): { loss: tf.Scalar; terms?: Record<string, tf.Scalar> };
  /** The loss is a mean of independent per-row terms (distillation MSE): a rank needs no other rank's rows. */
  rowwise?: boolean;
  /** Samples in a batch (default: axis 0 of the batch tensor, or of the first tensor among its properties). */
  rows?(batch: B): number;
  /** After every optimizer update: model-specific constraints on the trainable parameters (CLIP clamps logit_scale). */
  afterUpdate?(params: Map<string, tf.Variable>, config: { logitScaleMax?: number }): void;
}

export interface GradResult {
  /**
   * This rank's share of the global batch's loss (rows / B times its loss); summed over ranks it is the loss of the
   * global batch (with one rank: that loss). Likewise `terms`.
   */
  loss: number;
  terms: Record<string, number>;
  /**
   * This rank's share of the gradient per parameter key: summed over ranks it is the gradient of the global batch's
   * loss (with one rank: that gradient). The caller disposes them. Keys with no path to the loss are absent.
   */
  grads: Map<string, tf.Tensor>;
}

export interface GradOptions {
  /** Dropout keys of micro-batch i's `rows` rows (see withDropoutKeys); none: masks drawn per tensor. */
  keys?: (micro: number, rows: number) => ArrayLike<number>;
  /** The other ranks holding the rest of the global batch (default: none, one process). */
  collective?: Collective;
  /** Rows per rank in this step (this rank's entry = its micro-batches' rows); required with a collective of several ranks. */
  counts?: number[];
  /** open_clip's --local-loss: each rank's rows against the global batch (needs task.localLoss) instead of B x B on every rank. */
  localLoss?: boolean;
  /**
   * Called by the one-pass path (one micro-batch) when a parameter's gradient is final, before the rest of the
   * backward pass has run (so communication can start early); `index` is its position in `params`.
   */
  onGrad?: (index: number, grad: tf.Tensor) => void;
}

type LossOut = { loss: tf.Scalar; terms?: Record<string, tf.Scalar> };

function trainableVars(params: Map<string, tf.Variable>): { keys: string[]; vars: tf.Variable[] } {
  for (const [k, v] of params) if (!v.trainable) throw new Error(`parameter '${k}' is a non-trainable tf.Variable; leave it out of the trainable set instead`);
  return { keys: [...params.keys()], vars: [...params.values()] };
}

/** Features of micro-batch i under its dropout keys, with Math.random seeded by the step (not by the micro-batch). */
function microFeatures<B>(task: FeatureTask<B>, b: B, i: number, ctx: Omit<StepContext, 'micro'>, o: GradOptions, cached?: tf.Tensor[]): tf.Tensor[] {
  const run = () => withSeededRandom(ctx.seed, () => task.features(b, { ...ctx, micro: i, cached }));
  // The row count is known only once the batch is loaded (unreadable samples are dropped): probe it from the batch.
  const rows = o.keys ? batchRows(task, b) : undefined;
  return rows === undefined ? run() : withDropoutKeys(o.keys!(i, rows), run);
}

/**
 * Samples in a batch: the task's count, else axis 0 of the batch tensor, or of the first tensor among its properties;
 * undefined when none tells (then dropout keeps its per-call masks, and several ranks need FeatureTask.rows).
 */
export function batchRows<B>(task: FeatureTask<B>, b: B): number | undefined {
  if (task.rows) return task.rows(b);
  if (b instanceof tf.Tensor) return b.shape[0];
  if (b && typeof b === 'object') for (const v of Object.values(b)) if (v instanceof tf.Tensor) return v.shape[0];
  return undefined;
}

/**
 * The loss this rank contributes, weighted so that the ranks' contributions sum to the global batch's loss:
 * w = rows / B times the full loss over the gathered batch (every rank computes the same B x B loss), or the local
 * loss of its rows (--local-loss), or the loss of its own rows (row-wise tasks: no gather). Gathers keep the
 * gradient (their backward pass sums the other ranks' gradients for this rank's rows).
 */
function rankLoss<B>(task: FeatureTask<B>, local: tf.Tensor[], counts: number[], o: GradOptions): LossOut {
  const c = o.collective;
  const total = counts.reduce((s, x) => s + x, 0);
  const rank = c?.rank ?? 0;
  const rows: RowRange = { start: counts.slice(0, rank).reduce((s, x) => s + x, 0), count: counts[rank] };
  let r: LossOut;
  if (!c || c.size === 1 || task.rowwise) r = task.loss(local);
  else {
    const constant = new Set(task.constantFeatures ?? []);
    const all = local.map((f, j) => gatherRows(f, counts, c, `features slot ${j}`, !constant.has(j)));
    r = o.localLoss ? task.localLoss!(all, rows) : task.loss(all);
  }
  if (rows.count === total) return r;
  const w = rows.count / total;
  return { loss: tf.mul(r.loss, w), terms: Object.fromEntries(Object.entries(r.terms ?? {}).map(([k, t]) => [k, tf.mul(t, w) as tf.Scalar])) };
}

/** Rows per rank: the caller's (several ranks), else this rank's. */
function rowCounts(rows: number, o: GradOptions): number[] {
  const c = o.collective;
  if (!c || c.size === 1) return [rows];
  if (!o.counts || o.counts.length !== c.size) throw new Error(`computeGradients: ${c.size} ranks need the rows per rank (counts)`);
  if (o.counts[c.rank] !== rows) throw new Error(`computeGradients: rank ${c.rank} has ${rows} rows, counts say ${o.counts[c.rank]}`);
  return o.counts;
}

/** The loss and terms as numbers (read once). */
function scalars(value: tf.Scalar, terms: Record<string, tf.Scalar> | undefined): { loss: number; terms: Record<string, number> } {
  return { loss: value.dataSync()[0], terms: Object.fromEntries(Object.entries(terms ?? {}).map(([k, t]) => [k, t.dataSync()[0]])) };
}

/** Runs f under the lean backprop; "no connection" (nothing trainable reached) gives no gradients instead of an error. */
function lossAndGrads(f: () => tf.Scalar, xs: tf.Tensor[], onGrad?: (i: number, g: tf.Tensor) => void): { value: tf.Scalar; grads: Array<tf.Tensor | null> } {
  try {
    return valueAndGrads(f, xs, onGrad ? { onGrad } : undefined);
  } catch (e) {
    if (!/Cannot find a connection/.test((e as Error).message)) throw e;
    return { value: tf.tidy(f), grads: xs.map(() => null) };
  }
}

/**
 * This rank's share of the gradient of the global batch's loss (see GradResult). `micro` holds this rank's
 * micro-batches of one optimizer step, in order. One micro-batch: one forward and backward pass, other ranks' features
 * gathered inside it. Several: the GradCache scheme: pass 1 computes every micro-batch's features without a tape; the
 * loss of the global batch gives the gradient with respect to those features (and the loss-only parameters such as
 * logit_scale, exactly once); pass 2 recomputes each micro-batch's features under the tape and backpropagates its rows
 * of that feature gradient. Both equal the big-batch gradient.
 */
export function computeGradients<B>(task: FeatureTask<B>, params: Map<string, tf.Variable>, micro: B[], ctx: Omit<StepContext, 'micro' | 'cached'>, o: GradOptions = {}): GradResult {
  if (!micro.length) throw new Error('computeGradients: no micro-batch');
  if (o.localLoss && !task.rowwise && !task.localLoss) throw new Error('--local-loss: this task has no local loss (it needs every rank\'s rows); run without --local-loss');
  const { keys, vars } = trainableVars(params);
  const toKeys = (grads: Array<tf.Tensor | null>) => {
    const m = new Map<string, tf.Tensor>();
    grads.forEach((g, i) => g && m.set(keys[i], g));
    return m;
  };
  if (micro.length === 1) {
    let kept: Record<string, tf.Scalar> | undefined;
    const { value, grads } = lossAndGrads(() => {
      const f = microFeatures(task, micro[0], 0, ctx, o);
      const r = rankLoss(task, f, rowCounts(f[0].shape[0], o), o);
      if (r.terms) for (const t of Object.values(r.terms)) tf.keep(t);
      kept = r.terms;
      return r.loss;
    }, vars, o.onGrad);
    const s = scalars(value, kept); // before disposing: a term may be the loss tensor itself
    value.dispose();
    for (const t of Object.values(kept ?? {})) t.dispose();
    return { ...s, grads: toKeys(grads) };
  }
  return accumulatedGradients(task, vars, micro, ctx, o, toKeys);
}

function accumulatedGradients<B>(
  task: FeatureTask<B>, vars: tf.Variable[], micro: B[], ctx: Omit<StepContext, 'micro' | 'cached'>, o: GradOptions,
  toKeys: (g: Array<tf.Tensor | null>) => Map<string, tf.Tensor>,
): GradResult {
  const constant = new Set(task.constantFeatures ?? []);
  const cache: tf.Tensor[][] = micro.map((b, i) => tf.tidy(() => microFeatures(task, b, i, ctx, o)));
  const local = cache[0].map((_, j) => tf.concat(cache.map((f) => f[j]), 0)); // this rank's rows, per slot
  const slots = local.map((_, j) => j).filter((j) => !constant.has(j));
  let featGrads: Array<tf.Tensor | null> = [];
  try {
    const counts = rowCounts(local[0].shape[0], o);
    let kept: Record<string, tf.Scalar> | undefined;
    // d(global loss)/d(this rank's features) and the loss's own parameters (logit_scale), once for the whole batch.
    const { value, grads } = lossAndGrads(() => {
      const r = rankLoss(task, local, counts, o);
      if (r.terms) for (const t of Object.values(r.terms)) tf.keep(t);
      kept = r.terms;
      return r.loss;
    }, [...slots.map((j) => local[j]), ...vars]);
    const s = scalars(value, kept);
    value.dispose();
    for (const t of Object.values(kept ?? {})) t.dispose();
    featGrads = grads.slice(0, slots.length);
    const acc = toKeys(grads.slice(slots.length));
    // Each micro-batch's features again, under the tape: sum(features * their rows of the feature gradient).
    let row = 0;
    for (let i = 0; i < micro.length; i++) {
      const n = cache[i][0].shape[0];
      const { value: v, grads: g } = lossAndGrads(() => {
        const f = microFeatures(task, micro[i], i, ctx, o, cache[i]);
        const parts: tf.Tensor[] = [];
        slots.forEach((j, s) => featGrads[s] && parts.push(tf.sum(tf.mul(f[j], tf.slice(featGrads[s]!, row, n)))));
        return parts.length ? (tf.addN(parts) as tf.Scalar) : tf.scalar(0);
      }, vars);
      v.dispose();
      row += n;
      for (const [k, t] of toKeys(g)) {
        const old = acc.get(k);
        if (!old) acc.set(k, t);
        else {
          acc.set(k, tf.add(old, t));
          old.dispose();
          t.dispose();
        }
      }
    }
    return { ...s, grads: acc };
  } finally {
    for (const f of cache) tf.dispose(f);
    tf.dispose(local);
    tf.dispose(featGrads.filter((g): g is tf.Tensor => !!g));
  }
}

/** The task's loss over `micro` without a tape or dropout (features concatenated over micro-batches, as above). */
export function evalLoss<B>(task: FeatureTask<B>, micro: B[], ctx: Omit<StepContext, 'micro' | 'cached' | 'training'>): number {
  return tf.tidy(() => {
    const feats = micro.map((b, i) => task.features(b, { ...ctx, micro: i, training: false }));
    const slots = Array.from({ length: feats[0].length }, (_, j) => (feats.length === 1 ? feats[0][j] : tf.concat(feats.map((f) => f[j]), 0)));
    return task.loss(slots).loss.dataSync()[0];
  });
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_: coefficient
 * maxNorm / (norm + 1e-6), applied only when below 1). Returns the norm before clipping; disposes replaced tensors.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number | undefined): number {
  const { norm, scale } = globalGradNorm(grads, maxNorm);
  if (scale !== 1) {
    const native = nativeOptimizerOps();
    for (const [k, g] of grads) {
      // In place where it can (one pass, no new gradient-sized allocation), else a scaled copy.
      if (native?.nativeScaleInPlace(g, scale)) continue;
      grads.set(k, tf.mul(g, scale));
      g.dispose();
    }
  }
  return norm;
}

/**
 * The global L2 norm of `grads` and clip_grad_norm_'s coefficient (maxNorm / (norm + 1e-6) when that is below 1,
 * else 1), without touching the gradients: pass `scale` to AdamW.step's gradScale to clip inside the update pass
 * instead of in a pass of its own. The norm is one native pass per gradient (double accumulation, no squared
 * temporary) where @altclip/native runs, else tfjs's sum of squares.
 */
export function globalGradNorm(grads: Map<string, tf.Tensor>, maxNorm: number | undefined): { norm: number; scale: number } {
  const native = nativeOptimizerOps();
  let sum = 0;
  const rest: tf.Tensor[] = [];
  for (const g of grads.values()) {
    const s = native?.nativeSumSquares(g);
    if (s == null) rest.push(g);
    else sum += s;
  }
  if (rest.length) sum += tf.tidy(() => tf.addN(rest.map((g) => tf.sum(tf.square(g)))).dataSync()[0]);
  const norm = Math.sqrt(sum);
  const coef = maxNorm && maxNorm > 0 && Number.isFinite(norm) ? maxNorm / (norm + 1e-6) : 1;
  return { norm, scale: coef < 1 ? coef : 1 };
}
