import * as tf from '@tensorflow/tfjs-core';
import type { LazyTensor } from '@altclip/checkpoint';

import { nativeOptimizerOps } from './native-optional';

/** A parameter group: the keys it owns (first matching group wins) and its weight decay. */
export interface ParamGroup {
  name: string;
  match: (key: string, v: tf.Variable) => boolean;
  weightDecay: number;
}

export interface AdamWOptions {
  betas?: [number, number];
  eps?: number;
  /** Decay of the default group (every parameter no group claims). */
  weightDecay?: number;
  /** Groups tried in order before the default group; see `defaultParamGroups`. */
  groups?: ParamGroup[];
  /** Rows of a parameter excluded from weight decay (embeddings' padding rows): key -> row indices. */
  noDecayRows?: Map<string, number[]>;
}

/** Biases, LayerNorm weights and logit_scale, as HF keys name them in CLIP, AltCLIP (XLM-R) and the teacher. */
export const NO_DECAY_PATTERNS = [/\.bias$/, /(LayerNorm|layer_norm|layernorm|layrnorm|pre_LN|ln_\w*)\.weight$/, /^logit_scale$/];

/** The usual split: no weight decay for keys matching `patterns` (default NO_DECAY_PATTERNS). */
export function defaultParamGroups(patterns: RegExp[] = NO_DECAY_PATTERNS): ParamGroup[] {
  return [{ name: 'no_decay', match: (k) => patterns.some((p) => p.test(k)), weightDecay: 0 }];
}

interface Slot {
  key: string;
  p: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
  step: number;
  weightDecay: number;
  group: string;
  /** [rows, 1] or undefined: 1 where decay applies, 0 on excluded rows. */
  decayMask?: tf.Tensor;
  /** The excluded rows (those where decayMask is 0), for the native update. */
  noDecayRows?: number[];
}

/**
 * AdamW with decoupled weight decay (PyTorch torch.optim.AdamW semantics):
 *   p <- p * (1 - lr * wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * Moments are tf.Variables updated in place one parameter at a time inside its own tf.tidy, so memory stays near
 * 3x the parameters plus a few temporaries the size of the largest single parameter.
 */
export class AdamW {
  readonly betas: [number, number];
  readonly eps: number;
  private slots = new Map<string, Slot>();

  constructor(params: Map<string, tf.Variable>, opts: AdamWOptions = {}) {
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    const groups = opts.groups ?? defaultParamGroups();
    for (const [key, p] of params) {
      const g = groups.find((gr) => gr.match(key, p));
      const rows = opts.noDecayRows?.get(key);
      let decayMask: tf.Tensor | undefined;
      let noDecayRows: number[] | undefined;
      if (rows && rows.length && p.rank >= 1) {
        const mask = new Float32Array(p.shape[0]).fill(1);
        for (const r of rows) if (r >= 0 && r < mask.length) mask[r] = 0;
        decayMask = tf.tensor(mask, [p.shape[0], ...p.shape.slice(1).map(() => 1)]);
        noDecayRows = [...mask.keys()].filter((r) => mask[r] === 0);
      }
      const zeros = () => {
        // zerosLike runs the backend's ZerosLike kernel (a native fill on `native`); tf.zeros would build the
        // zeros in JS and copy them in (7 GB of JS arrays for AltCLIP-L's moments)
        const z = tf.zerosLike(p);
        const vz = tf.variable(z, false);
        z.dispose();
        return vz;
      };
      this.slots.set(key, {
        key,
        p,
        m: zeros(),
        v: zeros(),
        step: 0,
        weightDecay: g ? g.weightDecay : (opts.weightDecay ?? 0.01),
        group: g ? g.name : 'decay',
        decayMask,
        noDecayRows,
      });
    }
  }

  /** Parameter keys and their group, for logging. */
  groupsSummary(): Record<string, { params: number; values: number; weightDecay: number }> {
    const out: Record<string, { params: number; values: number; weightDecay: number }> = {};
    for (const s of this.slots.values()) {
      const o = (out[s.group] ??= { params: 0, values: 0, weightDecay: s.weightDecay });
      o.params++;
      o.values += s.p.size;
    }
    return out;
  }

  /**
   * One update with learning rate `lr`; parameters without a gradient are skipped (their step does not advance).
   * `disposeGrads`: free each gradient right after its parameter is updated (and remove it from the map), so
   * memory falls during the step instead of after it. `gradScale`: multiplies every gradient first (gradient
   * clipping's coefficient from globalGradNorm), inside the update's one pass over the parameter.
   */
  step(grads: Map<string, tf.Tensor>, lr: number, opts: { disposeGrads?: boolean; gradScale?: number } = {}): void {
    for (const s of this.slots.values()) {
      const g = grads.get(s.key);
      if (!g) continue;
      try {
        this.update(s, g, lr, opts.gradScale ?? 1);
      } finally {
        if (opts.disposeGrads) {
          g.dispose();
          grads.delete(s.key);
        }
      }
    }
  }

  private update(s: Slot, gIn: tf.Tensor, lr: number, gradScale: number): void {
    const [b1, b2] = this.betas;
    s.step++;
    const bc1 = 1 - b1 ** s.step;
    const bc2 = 1 - b2 ** s.step;
    // @altclip/native (optional): one fused in-place update where the tensors live; false -> the tfjs update below.
    const native = nativeOptimizerOps()?.nativeAdamWStep;
    // Rows without decay (an embedding's padding row) run as separate ranges with no decay, natively too: the tfjs
    // update below would need ~3 temporaries the size of the parameter (3 GB for XLM-R-large's word embeddings).
    const o = { lr, beta1: b1, beta2: b2, eps: this.eps, bc1, bc2, weightDecay: s.weightDecay, noDecayRows: s.noDecayRows, gradScale };
    if (native && native(s.p, s.m, s.v, gIn, o)) return;
    const g = gradScale === 1 ? gIn : tf.mul(gIn, gradScale);
    try {
      this.updateTfjs(s, g, lr, bc1, bc2);
    } finally {
      if (g !== gIn) g.dispose();
    }
  }

  private updateTfjs(s: Slot, g: tf.Tensor, lr: number, bc1: number, bc2: number): void {
    const [b1, b2] = this.betas;
    // Big temporaries are freed as soon as they are used (tf.tidy alone would keep all ~14 of them until the
    // end): peak extra memory is about 3 tensors of this parameter's size, not ~18 as with tf.train.adam.
    tf.tidy(() => {
      const step = (x: tf.Tensor, f: (t: tf.Tensor) => tf.Tensor, keep = false) => {
        const y = f(x);
        if (!keep) x.dispose();
        return y;
      };
      // m <- b1 m + (1 - b1) g
      const m = step(tf.mul(s.m, b1), (t) => step(tf.mul(g, 1 - b1), (u) => tf.add(t, u)));
      s.m.assign(m);
      // v <- b2 v + (1 - b2) g^2
      const v = step(tf.mul(s.v, b2), (t) => step(step(tf.square(g), (g2) => tf.mul(g2, 1 - b2)), (u) => tf.add(t, u)));
      s.v.assign(v);
      // update = lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps): PyTorch's formulation, eps outside the sqrt
      const denom = step(step(tf.sqrt(v), (t) => tf.mul(t, 1 / Math.sqrt(bc2))), (t) => tf.add(t, this.eps));
      v.dispose();
      const upd = step(step(denom, (d) => tf.div(m, d)), (t) => tf.mul(t, lr / bc1));
      m.dispose();
      let p: tf.Tensor = s.p;
      if (s.weightDecay !== 0 && lr !== 0) {
        const f = lr * s.weightDecay;
        // decoupled decay p <- p (1 - lr wd), except on masked rows (padding rows)
        p = s.decayMask ? step(step(tf.mul(s.p, s.decayMask), (t) => tf.mul(t, f)), (t) => tf.sub(s.p, t)) : tf.mul(s.p, 1 - f);
      }
      const next = tf.sub(p, upd);
      upd.dispose();
      if (p !== s.p) p.dispose();
      s.p.assign(next);
    });
  }

  /**
   * Moments as `exp_avg.<key>` / `exp_avg_sq.<key>` plus per-key step counts, for a checkpoint. Entries are lazy:
   * each moment is read from the backend only when the writer reaches it, so saving AltCLIP-L's 7 GB of moments
   * never holds more than one tensor's copy in JS.
   */
  async stateDict(): Promise<{ tensors: Map<string, LazyTensor>; metadata: Record<string, string> }> {
    const tensors = new Map<string, LazyTensor>();
    const steps: Record<string, number> = {};
    for (const s of this.slots.values()) {
      tensors.set(`exp_avg.${s.key}`, { shape: s.p.shape, dtype: 'F32', load: async () => (await s.m.data()) as Float32Array });
      tensors.set(`exp_avg_sq.${s.key}`, { shape: s.p.shape, dtype: 'F32', load: async () => (await s.v.data()) as Float32Array });
      steps[s.key] = s.step;
    }
    return { tensors, metadata: { steps: JSON.stringify(steps), betas: JSON.stringify(this.betas), eps: String(this.eps) } };
  }

  /** Restores moments and step counts; every trainable key must be present with the same shape. */
  loadState(read: (name: string) => { shape: number[]; data: Float32Array } | undefined, metadata: Record<string, string>, source = 'optimizer state'): void {
    const steps: Record<string, number> = JSON.parse(metadata.steps ?? '{}');
    for (const s of this.slots.values()) {
      for (const [prefix, target] of [['exp_avg', s.m], ['exp_avg_sq', s.v]] as const) {
        const t = read(`${prefix}.${s.key}`);
        if (!t) throw new Error(`${source}: missing '${prefix}.${s.key}' (was the run started with other frozen/trainable parameters?)`);
        if (t.shape.join(',') !== s.p.shape.join(','))
          throw new Error(`${source}: '${prefix}.${s.key}' has shape [${t.shape}], parameter has [${s.p.shape}]`);
        tf.tidy(() => target.assign(tf.tensor(t.data, s.p.shape, 'float32')));
      }
      s.step = steps[s.key] ?? 0;
    }
  }

  dispose(): void {
    for (const s of this.slots.values()) {
      s.m.dispose();
      s.v.dispose();
      s.decayMask?.dispose();
    }
    this.slots.clear();
  }
}
