/**
 * Fused transformer-block kernels (csrc/fused.cc) as tfjs kernels with registered gradients, on the backends where
 * the addon is loaded (`native`, and `wasm` with the addon). @altclip/models' ops use them when
 * tf.getKernel(name, backend) exists and fall back to composed tfjs ops elsewhere.
 *
 *   AltclipLayerNorm    {x [..., D], gamma [D], beta [D]} {eps}          -> y, mean [...], rstd [...]
 *   AltclipBiasAct      {x [..., N], bias [N]} {activation}              -> act(x + bias)   (gelu | quick_gelu)
 *   AltclipSoftmaxMask  {x [.., Lq, Lk], mask? (broadcasts)} {scale}     -> softmax(x * scale + mask)
 *   AltclipDropout      {x} {rate, seed, keys?}                          -> y, keep mask (bool)   (no gradient: see models' dropout)
 *   AltclipAttention    {q [B, Lq, H*d], k, v [B, Lk, H*d], mask [Bm, Hm, Lqm, Lk]} {heads, scale, bf16?, dropout?, seed?, keys?}
 *                       -> out [B, Lq, H*d], stats [B, H, Lq, 2]         (mask dims 1 or full: it broadcasts)
 * `keys` (one 32-bit key per sample, axis 0 holding the samples): dropout masks keyed per sample, `seed` the call's
 * 32-bit draw, bit for bit @altclip/models ops.ts keyedKeepMask (csrc/keyed.h).
 * Each has a `...Grad` kernel; the gradients save only what the backward needs (x and mean/rstd for LayerNorm,
 * the pre-activation for bias+act, the output for softmax, q/k/v/out and the per-row stats for attention).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Impl } from './kernels';

type Heap = Uint8Array | null;
/**
 * The addon's fused functions (csrc/fused_napi.cc), declared beside their kernels and merged into NativeAddon;
 * offsets are byte offsets into `heap`, -1 for no mask.
 */
declare module './addon' {
  interface NativeAddon {
    layerNorm(heap: Heap, x: number, gamma: number, beta: number, y: number, mean: number, rstd: number, rows: number, D: number, eps: number): void;
    layerNormGrad(heap: Heap, dy: number, x: number, gamma: number, mean: number, rstd: number, dx: number, dgamma: number, dbeta: number, rows: number, D: number): void;
    biasAct(heap: Heap, act: number, x: number, bias: number, y: number, rows: number, N: number): void;
    biasActGrad(heap: Heap, act: number, dy: number, x: number, bias: number, dx: number, dbias: number, rows: number, N: number): void;
    /** dims [B, H, Lq, Lk]; maskStrides [sb, sh, sq]. */
    softmaxMask(heap: Heap, x: number, mask: number, y: number, dims: Int32Array, maskStrides: Int32Array, scale: number): void;
    softmaxMaskGrad(heap: Heap, dy: number, y: number, dx: number, rows: number, cols: number, scale: number): void;
    /** dims [B, H, Lq, Lk, d, bf16 products 0|1, dropout rate * 2^24, dropout seed]; maskStrides [sb, sh, sq]. */
    /** keyed: null, or dropout masks keyed per sample (see keyedParams) instead of dims' rate and seed. */
    attention(heap: Heap, q: number, k: number, v: number, mask: number, out: number, stats: number, dims: Int32Array, maskStrides: Int32Array, scale: number, keyed: Float64Array | null): void;
    attentionGrad(heap: Heap, dy: number, q: number, k: number, v: number, mask: number, out: number, stats: number, dq: number, dk: number, dv: number, dims: Int32Array, maskStrides: Int32Array, scale: number, keyed: Float64Array | null): void;
    /** mask: n bytes (bool). */
    dropout(heap: Heap, x: number, y: number, mask: number, n: number, rate: number, seed: number): void;
    /** x [keys, ...dims] (dims: the middle axes, then the last); keyed: see keyedParams. */
    keyedDropout(heap: Heap, x: number, y: number, mask: number, dims: Int32Array, keyed: Float64Array): void;
  }
}

export const FUSED_KERNEL_NAMES = {
  layerNorm: 'AltclipLayerNorm',
  layerNormGrad: 'AltclipLayerNormGrad',
  biasAct: 'AltclipBiasAct',
  biasActGrad: 'AltclipBiasActGrad',
  softmaxMask: 'AltclipSoftmaxMask',
  softmaxMaskGrad: 'AltclipSoftmaxMaskGrad',
  attention: 'AltclipAttention',
  attentionGrad: 'AltclipAttentionGrad',
  dropout: 'AltclipDropout',
} as const;
const K = FUSED_KERNEL_NAMES;

/** Activation codes (csrc/fused.h FusedAct). */
const ACT: Record<string, number> = { gelu: 0, quick_gelu: 1 };

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const f32 = (...ts: Array<TensorInfo | undefined>) => ts.every((t) => t != null && t.dtype === 'float32' && size(t.shape) > 0);

const layerNorm: Impl = (addon, host, { x, gamma, beta }, attrs) => {
  if (!f32(x, gamma, beta)) return null;
  const D = x!.shape[x!.shape.length - 1];
  if (size(gamma!.shape) !== D || size(beta!.shape) !== D) return null;
  const rows = size(x!.shape) / D;
  const y = host.output(x!.shape, 'float32');
  const mean = host.output(x!.shape.slice(0, -1), 'float32');
  const rstd = host.output(x!.shape.slice(0, -1), 'float32');
  const o = host.offset;
  addon.layerNorm(host.heap(), o(x!), o(gamma!), o(beta!), o(y), o(mean), o(rstd), rows, D, attrs.eps as number);
  return [y, mean, rstd];
};

const layerNormGrad: Impl = (addon, host, { dy, x, gamma, mean, rstd }) => {
  if (!f32(dy, x, gamma, mean, rstd)) return null;
  const D = x!.shape[x!.shape.length - 1];
  const dx = host.output(x!.shape, 'float32');
  const dgamma = host.output(gamma!.shape, 'float32');
  const dbeta = host.output(gamma!.shape, 'float32');
  const o = host.offset;
  addon.layerNormGrad(host.heap(), o(dy!), o(x!), o(gamma!), o(mean!), o(rstd!), o(dx), o(dgamma), o(dbeta), size(x!.shape) / D, D);
  return [dx, dgamma, dbeta];
};

function actCode(attrs: NamedAttrMap): number | undefined {
  return ACT[attrs.activation as string];
}

const biasAct: Impl = (addon, host, { x, bias }, attrs) => {
  const act = actCode(attrs);
  if (!f32(x, bias) || act == null) return null;
  const N = x!.shape[x!.shape.length - 1];
  if (size(bias!.shape) !== N) return null;
  const y = host.output(x!.shape, 'float32');
  addon.biasAct(host.heap(), act, host.offset(x!), host.offset(bias!), host.offset(y), size(x!.shape) / N, N);
  return y;
};

const biasActGrad: Impl = (addon, host, { dy, x, bias }, attrs) => {
  const act = actCode(attrs);
  if (!f32(dy, x, bias) || act == null) return null;
  const N = x!.shape[x!.shape.length - 1];
  const dx = host.output(x!.shape, 'float32');
  const dbias = host.output(bias!.shape, 'float32');
  const o = host.offset;
  addon.biasActGrad(host.heap(), act, o(dy!), o(x!), o(bias!), o(dx), o(dbias), size(x!.shape) / N, N);
  return [dx, dbias];
};

/**
 * Element strides [sb, sh, sq] of `mask` broadcast over [B, H, Lq, Lk] (right-aligned, rank <= 4), or null when it
 * does not broadcast that way (its last dim must be Lk).
 */
export function maskStrides(mask: number[], B: number, H: number, Lq: number, Lk: number): Int32Array | null {
  if (mask.length > 4) return null;
  const m = [...Array(4 - mask.length).fill(1), ...mask];
  const full = [B, H, Lq, Lk];
  if (m[3] !== Lk || m.some((d, i) => d !== 1 && d !== full[i])) return null;
  const st = [m[1] * m[2] * m[3], m[2] * m[3], m[3]];
  return Int32Array.from(st.map((s, i) => (m[i] === 1 ? 0 : s)));
}

const NO_MASK = Int32Array.of(0, 0, 0);

const softmaxMask: Impl = (addon, host, { x, mask }, attrs) => {
  if (!f32(x) || x!.shape.length > 4 || (mask && !f32(mask))) return null;
  const [B, H, Lq, Lk] = [...Array(4 - x!.shape.length).fill(1), ...x!.shape];
  const st = mask ? maskStrides(mask.shape, B, H, Lq, Lk) : NO_MASK;
  if (!st) return null;
  const y = host.output(x!.shape, 'float32');
  addon.softmaxMask(host.heap(), host.offset(x!), mask ? host.offset(mask) : -1, host.offset(y), Int32Array.of(B, H, Lq, Lk), st, attrs.scale as number);
  return y;
};

const softmaxMaskGrad: Impl = (addon, host, { dy, y }, attrs) => {
  if (!f32(dy, y)) return null;
  const cols = y!.shape[y!.shape.length - 1];
  const dx = host.output(y!.shape, 'float32');
  addon.softmaxMaskGrad(host.heap(), host.offset(dy!), host.offset(y!), host.offset(dx), size(y!.shape) / cols, cols, attrs.scale as number);
  return dx;
};

/**
 * The addon's keyed-dropout argument [call draw, keepBelow, scale, ...keys] from the attrs {rate, seed: the call's
 * draw, keys}, or null without keys. As ops.ts keyedKeepMask: kept when the 32-bit draw < keepProb * 2^32 (so below
 * its ceiling), kept values times float32(1 / float32(keepProb)) (its tf.div of the cast mask by keepProb).
 */
function keyedParams(rate: number, attrs: NamedAttrMap): Float64Array | null {
  const keys = attrs.keys as number[] | undefined;
  if (!keys || keys.length === 0) return null;
  const keepProb = 1 - rate;
  return Float64Array.of(attrs.seed as number, Math.ceil(keepProb * 4294967296), Math.fround(1 / Math.fround(keepProb)), ...keys);
}

/** [B, H, Lq, Lk, d] and the mask strides, or null for shapes the kernel does not take. */
function attentionPlan(q: TensorInfo, k: TensorInfo, v: TensorInfo, mask: TensorInfo, attrs: NamedAttrMap): { dims: Int32Array; st: Int32Array; keyed: Float64Array | null } | null {
  const heads = attrs.heads as number;
  const rate = (attrs.dropout as number | undefined) ?? 0;
  if (!(rate >= 0 && rate < 1)) return null;
  if (q.shape.length !== 3 || k.shape.length !== 3 || !tf.util.arraysEqual(k.shape, v.shape)) return null;
  const [B, Lq, D] = q.shape;
  const Lk = k.shape[1];
  if (k.shape[0] !== B || k.shape[2] !== D || !(heads >= 1) || D % heads) return null;
  const st = maskStrides(mask.shape, B, heads, Lq, Lk);
  // dropout: rate as 24-bit fixed point (the kernel compares 24-bit hashes with it) and a 31-bit seed
  const drop = [Math.round(rate * 2 ** 24), ((attrs.seed as number | undefined) ?? 0) & 0x7fffffff];
  const keyed = rate > 0 ? keyedParams(rate, attrs) : null;
  if (keyed && B % (keyed.length - 3)) return null;
  return st ? { dims: Int32Array.of(B, heads, Lq, Lk, D / heads, attrs.bf16 ? 1 : 0, drop[0], drop[1]), st, keyed } : null;
}

const attention: Impl = (addon, host, { q, k, v, mask }, attrs) => {
  if (!f32(q, k, v, mask)) return null;
  const plan = attentionPlan(q!, k!, v!, mask!, attrs);
  if (!plan) return null;
  const [B, H, Lq] = plan.dims;
  const out = host.output(q!.shape, 'float32');
  const stats = host.output([B, H, Lq, 2], 'float32');
  const o = host.offset;
  addon.attention(host.heap(), o(q!), o(k!), o(v!), o(mask!), o(out), o(stats), plan.dims, plan.st, attrs.scale as number, plan.keyed);
  return [out, stats];
};

const attentionGrad: Impl = (addon, host, { dy, q, k, v, mask, out, stats }, attrs) => {
  if (!f32(dy, q, k, v, mask, out, stats)) return null;
  const plan = attentionPlan(q!, k!, v!, mask!, attrs);
  if (!plan) return null;
  const dq = host.output(q!.shape, 'float32');
  const dk = host.output(k!.shape, 'float32');
  const dv = host.output(v!.shape, 'float32');
  const o = host.offset;
  addon.attentionGrad(host.heap(), o(dy!), o(q!), o(k!), o(v!), o(mask!), o(out!), o(stats!), o(dq), o(dk), o(dv), plan.dims, plan.st, attrs.scale as number, plan.keyed);
  return [dq, dk, dv];
};

/**
 * Keyed dropout's dims [middle axes..., last] for x [s0, ...] under n keys, as keyedKeepMask reads it ([n, s0 / n, ...],
 * a rank-1 x as [n, s0 / n, 1]); null when axis 0 does not hold the samples or there are too many axes.
 */
function keyedDims(shape: number[], n: number): Int32Array | null {
  if (shape[0] % n || shape.length > 8) return null;
  return Int32Array.from(shape.length > 1 ? [shape[0] / n, ...shape.slice(1)] : [shape[0] / n, 1]);
}

/**
 * Dropout's mask from a counter-based generator in C++ (csrc/fused.h dropout): no random numbers drawn in JS; with
 * `keys`, the masks keyed per sample (csrc/keyed.h).
 */
const dropoutKernel: Impl = (addon, host, { x }, attrs) => {
  const rate = attrs.rate as number;
  if (!f32(x) || !(rate >= 0 && rate < 1)) return null;
  const keyed = keyedParams(rate, attrs);
  const dims = keyed && keyedDims(x!.shape, keyed.length - 3);
  if (keyed && !dims) return null;
  const y = host.output(x!.shape, 'float32');
  const keep = host.output(x!.shape, 'bool');
  const o = host.offset;
  if (keyed) addon.keyedDropout(host.heap(), o(x!), o(y), o(keep), dims!, keyed);
  else addon.dropout(host.heap(), o(x!), o(y), o(keep), size(x!.shape), rate, (attrs.seed as number) >>> 0);
  return [y, keep];
};

export const FUSED_KERNELS: Record<string, { impl: Impl; what: string }> = {
  [K.dropout]: { impl: dropoutKernel, what: 'dropout, mask from a counter-based generator (no JS random numbers)' },
  [K.layerNorm]: { impl: layerNorm, what: 'fused LayerNorm (saves mean/rstd only)' },
  [K.layerNormGrad]: { impl: layerNormGrad, what: 'fused LayerNorm backward (dx, dgamma, dbeta)' },
  [K.biasAct]: { impl: biasAct, what: 'fused bias + GELU / quick-GELU' },
  [K.biasActGrad]: { impl: biasActGrad, what: 'fused bias + GELU backward (recomputes the activation)' },
  [K.softmaxMask]: { impl: softmaxMask, what: 'softmax(x * scale + additive mask)' },
  [K.softmaxMaskGrad]: { impl: softmaxMaskGrad, what: 'masked softmax backward from its output' },
  [K.attention]: { impl: attention, what: 'flash-style attention per (batch, head), no [L, L] scores' },
  [K.attentionGrad]: { impl: attentionGrad, what: 'flash-style attention backward (recomputes scores per tile)' },
};

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: NamedAttrMap) =>
  tf.engine().runKernel(name, inputs, attrs) as tf.Tensor | tf.Tensor[];

const noMaskGrad = (kernel: string) => () => {
  throw new Error(`${kernel}: no gradient for the additive mask (it is built from the attention mask, not learned)`);
};

/**
 * Gradients of the fused kernels (once per process). Each runs its Grad kernel once, eagerly, and hands out the
 * results: tfjs calls each input's gradient thunk in its own tidy, so a shared lazily computed result would be
 * disposed after the first.
 */
export function registerFusedGradients(): void {
  if (tf.getGradient(K.layerNorm)) return;
  tf.registerGradient({
    kernelName: K.layerNorm,
    inputsToSave: ['x', 'gamma'],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved) => {
      const [x, gamma, mean, rstd] = saved;
      const dy = (dys as tf.Tensor[])[0];
      const [dx, dgamma, dbeta] = run(K.layerNormGrad, { dy, x, gamma, mean, rstd }, {}) as tf.Tensor[];
      return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
    },
  });
  tf.registerGradient({
    kernelName: K.biasAct,
    inputsToSave: ['x', 'bias'],
    gradFunc: (dy, saved, attrs) => {
      const [x, bias] = saved;
      const [dx, dbias] = run(K.biasActGrad, { dy: dy as tf.Tensor, x, bias }, attrs) as tf.Tensor[];
      return { x: () => dx, bias: () => dbias };
    },
  });
  tf.registerGradient({
    kernelName: K.softmaxMask,
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const dx = run(K.softmaxMaskGrad, { dy: dy as tf.Tensor, y: saved[0] }, attrs) as tf.Tensor;
      return { x: () => dx, mask: noMaskGrad(K.softmaxMask) };
    },
  });
  tf.registerGradient({
    kernelName: K.attention,
    inputsToSave: ['q', 'k', 'v', 'mask'],
    outputsToSave: [true, true],
    gradFunc: (dys, saved, attrs) => {
      const [q, k, v, mask, out, stats] = saved;
      const dy = (dys as tf.Tensor[])[0];
      const [dq, dk, dv] = run(K.attentionGrad, { dy, q, k, v, mask, out, stats }, attrs) as tf.Tensor[];
      return { q: () => dq, k: () => dk, v: () => dv, mask: noMaskGrad(K.attention) };
    },
  });
}
