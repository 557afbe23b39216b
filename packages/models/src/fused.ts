/**
 * The fused transformer-block kernels of @altclip/native (its src/fused.ts), used by ops.ts when they are
 * registered on the active backend (`native`, or `wasm` with the addon). Each function returns null when the
 * kernel is not there or the case is not covered, and ops.ts then runs its composed tfjs ops (the same maths;
 * the only path with ALTCLIP_NATIVE=0 or on the cpu/tensorflow backends). The kernels carry registered gradients,
 * so tf.variableGrads and @altclip/train's valueAndGrads both differentiate through them.
 */
import * as tf from '@tensorflow/tfjs-core';

const KERNEL = {
  layerNorm: 'AltclipLayerNorm',
  biasAct: 'AltclipBiasAct',
  softmaxMask: 'AltclipSoftmaxMask',
  attention: 'AltclipAttention',
  dropout: 'AltclipDropout',
} as const;

let enabled = true;

/** Turns the fused kernels off (true: on, the default) to compare against, or debug, the composed ops. */
export function setFusedKernels(on: boolean): void {
  enabled = on;
}

function available(name: string, ...ts: tf.Tensor[]): boolean {
  return enabled && ts.every((t) => t.dtype === 'float32' && t.size > 0) && tf.getKernel(name, tf.getBackend()) != null;
}

function run(name: string, inputs: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs, attrs);
  return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
}

/** Runs a multi-output kernel and keeps only its first output. The others are saved for the gradient as copies
 * (tfjs's tape clones what it saves), so they can be freed here even outside a tidy. */
const flat = (t: tf.Tensor) => (t.rank === 1 ? t : tf.reshape(t, [-1]));

function first(outs: tf.Tensor[]): tf.Tensor {
  tf.dispose(outs.slice(1));
  return outs[0];
}

/** LayerNorm over the last axis (x [..., D], w and b [D]). */
export function fusedLayerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor | null {
  if (!available(KERNEL.layerNorm, x, w, b) || w.size !== x.shape[x.rank - 1] || b.size !== w.size) return null;
  return first(run(KERNEL.layerNorm, { x, gamma: flat(w), beta: flat(b) }, { eps }));
}

/** act(x + b) for act 'gelu' (erf) or 'quick_gelu'; x [..., N], b [N]. */
export function fusedBiasAct(x: tf.Tensor, b: tf.Tensor, act: string): tf.Tensor | null {
  if ((act !== 'gelu' && act !== 'quick_gelu') || !available(KERNEL.biasAct, x, b) || b.size !== x.shape[x.rank - 1]) return null;
  return run(KERNEL.biasAct, { x, bias: flat(b) }, { activation: act })[0];
}

/** The 4-D additive mask for [B, heads, Lq, Lk] scores, or null when `bias` does not broadcast to it. */
function mask4(bias: tf.Tensor, full: number[]): tf.Tensor | null {
  if (bias.rank > 4) return null;
  const shape = [...Array(4 - bias.rank).fill(1), ...bias.shape];
  if (shape[3] !== full[3] || shape.some((d, i) => d !== 1 && d !== full[i])) return null;
  return bias.rank === 4 ? bias : tf.reshape(bias, shape);
}

/** softmax(scores * scale + bias) over the last axis; scores [B, heads, Lq, Lk]. */
export function fusedMaskedSoftmax(scores: tf.Tensor, bias: tf.Tensor | undefined, scale: number): tf.Tensor | null {
  if (scores.rank !== 4 || !available(KERNEL.softmaxMask, scores)) return null;
  const m = bias ? mask4(bias, scores.shape) : undefined;
  if (m === null || (m && m.dtype !== 'float32')) return null;
  return run(KERNEL.softmaxMask, m ? { x: scores, mask: m } : { x: scores }, { scale })[0];
}

/**
 * softmax(q k^T * scale + bias) v per head, without materialising the [B, heads, Lq, Lk] scores. q [B, Lq, H],
 * k and v [B, Lk, H] (heads are column blocks of H, as the projections produce them) -> [B, Lq, H]. `bf16`: bf16
 * products (precision.ts's autocast).
 */
export function fusedAttention(
  q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, heads: number, bias: tf.Tensor | undefined, scale: number, opts: { bf16?: boolean; dropout?: number; keys?: Uint32Array } = {},
): tf.Tensor | null {
  if (q.rank !== 3 || !available(KERNEL.attention, q, k, v)) return null;
  const [B, Lq] = q.shape as number[];
  const Lk = k.shape[1] as number;
  const rate = opts.dropout ?? 0;
  // Dropout on the probabilities runs in the kernel's whole-row path (heads of at most 1M scores); longer heads,
  // or setNativeDropout(false), take the composed ops (as does a batch that is not a multiple of the keys: its
  // error is the composed dropout's).
  if (rate > 0 && (!nativeDropout || Lq * Lk > FULL_ROW_SCORES || (opts.keys && B % opts.keys.length))) return null;
  const m = bias ? mask4(bias, [B, heads, Lq, Lk]) : tf.zeros([1, 1, 1, Lk]);
  if (!m || m.dtype !== 'float32') return null;
  // bf16: both products (QK^T, PV) and the backward's four take bf16-rounded inputs (softmax stays float32).
  // dropout: the mask is a hash of (seed, position), seeded by one Math.random draw, or with keys the composed
  // path's keyed mask on [B, heads, Lq, Lk] (the same single draw); the backward rebuilds it.
  const attrs: Record<string, number | number[]> = { heads, scale };
  if (opts.bf16) attrs.bf16 = 1;
  if (rate > 0 && opts.keys) Object.assign(attrs, { dropout: rate, seed: keyedDraw(), keys: Array.from(opts.keys) });
  else if (rate > 0) Object.assign(attrs, { dropout: rate, seed: Math.floor(Math.random() * 2 ** 31) });
  return first(run(KERNEL.attention, { q, k, v, mask: m }, attrs));
}

/** A keyed dropout call's draw (one Math.random per call, on every path, so a seeded step repeats its masks). */
export function keyedDraw(): number {
  return (Math.random() * 4294967296) >>> 0;
}

let nativeDropout = true;
/** csrc/fused.cc's default whole-row limit (Lq * Lk scores per head). */
const FULL_ROW_SCORES = 1 << 20;

/**
 * Off: dropout draws its mask with tf.randomUniform (tf.dropout's draws) even where the native kernel exists, so a
 * native run and a cpu run see the same masks (tests comparing backends), and attention with dropout takes the
 * composed ops; on (the default): the native kernels (AltclipDropout, AltclipAttention with dropout).
 */
export function setNativeDropout(on: boolean): void {
  nativeDropout = on;
}

/**
 * Dropout's output and keep mask (bool) from the native kernel, its mask drawn in C++ from a generator seeded by one
 * Math.random draw, or with `keyed` ({keys, call: keyedDraw()}) ops.ts's keyed mask; null where the kernel is not
 * registered or the keys do not divide axis 0 (the caller's JS path reports it).
 */
export function fusedDropout(x: tf.Tensor, rate: number, keyed?: { keys: Uint32Array; call: number }): { y: tf.Tensor; keep: tf.Tensor } | null {
  if (!nativeDropout || !available(KERNEL.dropout, x)) return null;
  if (keyed && (x.rank === 0 || x.rank > 8 || x.shape[0] % keyed.keys.length)) return null;
  const attrs: tf.NamedAttrMap = keyed ? { rate, seed: keyed.call, keys: Array.from(keyed.keys) } : { rate, seed: Math.floor(Math.random() * 2 ** 32) };
  const [y, keep] = run(KERNEL.dropout, { x }, attrs);
  return { y, keep };
}
