import * as tf from '@tensorflow/tfjs-core';
import { registerGradients } from '@altclip/backend';
import { withSeededRandom } from './rng';
import { variableGradsLean } from '@altclip/backend';
import { nativeOptimizerOps } from './native-optional';

// tfjs-core's CommonJS entry registers no gradients (setupBackend does; this covers callers that skipped it).
registerGradients();

/** What a task sees while computing features for one micro-batch. */
export interface StepContext {
  /** Optimizer step index (0-based). */
  step: number;
  /** Micro-batch index inside the step. */
  micro: number;
  /** A seed derived from (run seed, step, micro): pass it to dropout so a step is reproducible. */
  seed: number;
  /** True when dropout etc. should be active. */
  training: boolean;
  /** During the gradient pass of accumulation: this micro-batch's features from the cache pass (reuse constant ones). */
  cached?: tf.Tensor[];
}

/**
 * The model-specific half of training. The trainer knows nothing else about the model.
 * Loss is a function of the concatenated features of all micro-batches, so accumulation keeps every negative of a
 * contrastive loss (open_clip's scheme) and stays equal to the big-batch gradient.
 */
export interface FeatureTask<B> {
  /** Features of one micro-batch, each [n, ...] with the batch on axis 0 (e.g. [textEmb, imageEmb]). */
  features(batch: B, ctx: StepContext): tf.Tensor[];
  /** Feature slots that do not depend on trainable parameters (a frozen tower, distillation targets). */
  constantFeatures?: number[];
  /** Loss (mean over the whole batch) of features concatenated over micro-batches; `terms` are logged. */
  loss(features: tf.Tensor[]): { loss: tf.Scalar; terms?: Record<string, tf.Scalar> };
  /** After every optimizer update: model-specific constraints on the trainable parameters (CLIP clamps logit_scale). */
  afterUpdate?(params: Map<string, tf.Variable>, config: { logitScaleMax?: number }): void;
}

export interface GradResult {
  loss: number;
  terms: Record<string, number>;
  /** Gradient per parameter key; the caller disposes them. Keys with no path to the loss are absent. */
  grads: Map<string, tf.Tensor>;
}

function byName(params: Map<string, tf.Variable>): { vars: tf.Variable[]; keyOf: Map<string, string> } {
  const vars: tf.Variable[] = [];
  const keyOf = new Map<string, string>();
  for (const [k, v] of params) {
    if (!v.trainable) throw new Error(`parameter '${k}' is a non-trainable tf.Variable; leave it out of the trainable set instead`);
    vars.push(v);
    keyOf.set(v.name, k);
  }
  return { vars, keyOf };
}

function scalarTerms(terms: Record<string, tf.Scalar> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, t] of Object.entries(terms ?? {})) out[k] = t.dataSync()[0];
  return out;
}

/**
 * Gradients of the task's loss over `micro` (one or more micro-batches forming one optimizer step).
 * With several micro-batches: pass 1 computes every micro-batch's features without a tape; then, for each
 * micro-batch, its features are recomputed under the tape and substituted into the cached set, so the loss sees
 * all negatives; the per-micro-batch gradients add up to the full-batch gradient.
 */
export function computeGradients<B>(task: FeatureTask<B>, params: Map<string, tf.Variable>, micro: B[], ctx: Omit<StepContext, 'micro' | 'cached'>, microSeed: (i: number) => number): GradResult {
  const { vars, keyOf } = byName(params);
  const toKeys = (named: tf.NamedTensorMap) => {
    const m = new Map<string, tf.Tensor>();
    for (const [name, g] of Object.entries(named)) if (g) m.set(keyOf.get(name)!, g);
    return m;
  };
  if (micro.length === 1) {
    let kept: Record<string, tf.Scalar> | undefined;
    const { value, grads } = variableGradsLean(() => {
      const r = task.loss(withSeededRandom(microSeed(0), () => task.features(micro[0], { ...ctx, micro: 0, seed: microSeed(0) })));
      if (r.terms) for (const t of Object.values(r.terms)) tf.keep(t);
      kept = r.terms;
      return r.loss;
    }, vars);
    const loss = value.dataSync()[0];
    const terms = scalarTerms(kept); // before disposing: a term may be the loss tensor itself
    value.dispose();
    for (const t of Object.values(kept ?? {})) t.dispose();
    return { loss, terms, grads: toKeys(grads) };
  }

  const constant = new Set(task.constantFeatures ?? []);
  const cache: tf.Tensor[][] = micro.map((b, i) => tf.tidy(() => withSeededRandom(microSeed(i), () => task.features(b, { ...ctx, micro: i, seed: microSeed(i) }))));
  try {
    const nSlots = cache[0].length;
    const concatWith = (i: number, fi: tf.Tensor[]) =>
      Array.from({ length: nSlots }, (_, j) => tf.concat(cache.map((c, k) => (k === i && !constant.has(j) ? fi[j] : c[j])), 0));
    // Full-batch loss on the cached features. Its gradient reaches only parameters used by `loss` itself
    // (logit_scale): those take their gradient from here, once, and are dropped from the per-micro-batch passes,
    // which would otherwise count them K times.
    let kept: Record<string, tf.Scalar> | undefined;
    let loss = NaN;
    let terms: Record<string, number> = {};
    let acc = new Map<string, tf.Tensor>();
    const fullLoss = () => {
      const r = task.loss(concatWith(-1, []));
      if (r.terms) for (const t of Object.values(r.terms)) tf.keep(t);
      kept = r.terms;
      return r.loss;
    };
    try {
      const { value, grads } = variableGradsLean(fullLoss, vars);
      loss = value.dataSync()[0];
      terms = scalarTerms(kept);
      value.dispose();
      acc = toKeys(grads);
    } catch (e) {
      if (!/Cannot find a connection/.test((e as Error).message)) throw e;
      for (const t of Object.values(kept ?? {})) t.dispose(); // the failed attempt's kept terms (fullLoss runs again)
      tf.tidy(() => {
        loss = fullLoss().dataSync()[0];
        terms = scalarTerms(kept);
      });
    }
    const lossOnly = new Set(acc.keys());
    for (const t of Object.values(kept ?? {})) t.dispose();
    for (let i = 0; i < micro.length; i++) {
      const { value, grads } = variableGradsLean(
        () => task.loss(concatWith(i, withSeededRandom(microSeed(i), () => task.features(micro[i], { ...ctx, micro: i, seed: microSeed(i), cached: cache[i] })))).loss,
        vars,
      );
      value.dispose();
      for (const [k, t] of toKeys(grads)) {
        const old = acc.get(k);
        if (lossOnly.has(k)) t.dispose();
        else if (!old) acc.set(k, t);
        else {
          acc.set(k, tf.add(old, t));
          old.dispose();
          t.dispose();
        }
      }
    }
    return { loss, terms, grads: acc };
  } finally {
    for (const c of cache) tf.dispose(c);
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
