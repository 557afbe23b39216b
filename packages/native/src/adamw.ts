import * as tf from '@tensorflow/tfjs-core';
import { loadAddon } from './addon';
import { hostOf } from './heap';

export interface AdamWStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Bias corrections 1 - beta1^t and 1 - beta2^t. */
  bc1: number;
  bc2: number;
  /** Decoupled weight decay (p *= 1 - lr * weightDecay). */
  weightDecay: number;
  /** Rows (along the first axis) that get no weight decay, e.g. an embedding's padding row; sorted or not. */
  noDecayRows?: number[];
  /** Multiplies the gradient first (gradient clipping's coefficient, folded into this pass); default 1. */
  gradScale?: number;
}

/** Tensors sharing data with `t` (the backend counts references per dataId: reshapes, variables' initial values). */
function holders(t: tf.Tensor): number {
  return (tf.backend() as unknown as { refCount(dataId: object): number }).refCount(t.dataId);
}

/**
 * One fused AdamW update, in place where the tensors live (the wasm heap or the native backend's arena): p, m, v are overwritten, g is read. Same formula as
 * @altclip/train's AdamW (PyTorch's torch.optim.AdamW):
 *   p *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= (lr/bc1) m / (sqrt(v)/sqrt(bc2) + eps)
 * Returns false, touching nothing, when it cannot run natively (addon not built, backend neither wasm nor native, a dtype or
 * size mismatch, or p/m/v sharing their data with another tensor, which an in-place write would change too);
 * the caller then runs its tfjs update.
 */
export function nativeAdamWStep(p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, o: AdamWStepOptions): boolean {
  const { addon } = loadAddon();
  if (!addon) return false;
  const host = hostOf(tf.backend());
  if (!host) return false;
  const n = p.size;
  if (n === 0 || m.size !== n || v.size !== n || g.size !== n) return false;
  if ([p, m, v, g].some((t) => t.dtype !== 'float32' || t.isDisposed)) return false;
  if (holders(p) !== 1 || holders(m) !== 1 || holders(v) !== 1) return false;
  if (new Set([p.dataId, m.dataId, v.dataId, g.dataId]).size !== 4) return false;
  const heap = host.heap();
  const [po, mo, vo, go] = [p, m, v, g].map((t) => host.offset(t));
  const run = (from: number, count: number, wd: number) => {
    if (count > 0) addon.adamw(heap, po + 4 * from, mo + 4 * from, vo + 4 * from, go + 4 * from, count, o.lr, o.beta1, o.beta2, o.eps, o.bc1, o.bc2, wd, o.gradScale ?? 1);
  };
  const rows = p.rank >= 1 ? p.shape[0] : 0;
  const skip = o.weightDecay === 0 || !o.noDecayRows ? [] : [...new Set(o.noDecayRows.filter((r) => Number.isInteger(r) && r >= 0 && r < rows))].sort((a, b) => a - b);
  if (!skip.length) {
    run(0, n, o.weightDecay);
    return true;
  }
  // Contiguous runs of decayed rows, and each excluded row with no decay: the same per-element update as one call.
  const rowSize = n / rows;
  let next = 0;
  for (const r of skip) {
    run(next * rowSize, (r - next) * rowSize, o.weightDecay);
    run(r * rowSize, rowSize, 0);
    next = r + 1;
  }
  run(next * rowSize, (rows - next) * rowSize, o.weightDecay);
  return true;
}

/** The tensor's offset where the addon can read it in place, or null (no addon, another backend, not float32). */
function inPlace(t: tf.Tensor): { addon: NonNullable<ReturnType<typeof loadAddon>['addon']>; heap: Uint8Array | null; off: number } | null {
  const { addon } = loadAddon();
  const host = addon && hostOf(tf.backend());
  if (!addon || !host || t.dtype !== 'float32' || t.isDisposed || t.size === 0) return null;
  return { addon, heap: host.heap(), off: host.offset(t) };
}

/** sum of t^2 in one native pass (double accumulation, no squared temporary), or null when it cannot run natively. */
export function nativeSumSquares(t: tf.Tensor): number | null {
  const h = inPlace(t);
  return h ? h.addon.sumSquares(h.heap, h.off, t.size) : null;
}

/**
 * t *= s in place, natively; false (nothing done) when it cannot run natively or another tensor shares t's data
 * (which an in-place write would change too).
 */
export function nativeScaleInPlace(t: tf.Tensor, s: number): boolean {
  const h = inPlace(t);
  if (!h || holders(t) !== 1) return false;
  h.addon.scaleInPlace(h.heap, h.off, t.size, s);
  return true;
}

/**
 * Zeroes rows (along the first axis) of t in place, natively: false (nothing done) where it cannot (see
 * nativeScaleInPlace). Rows outside [0, rows) are ignored.
 */
export function nativeZeroRowsInPlace(t: tf.Tensor, rows: number[]): boolean {
  const h = inPlace(t);
  if (!h || holders(t) !== 1 || t.rank < 1) return false;
  const rowSize = t.size / t.shape[0];
  for (const r of rows) if (Number.isInteger(r) && r >= 0 && r < t.shape[0]) h.addon.scaleInPlace(h.heap, h.off + 4 * r * rowSize, rowSize, 0);
  return true;
}
