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
    if (count > 0) addon.adamw(heap, po + 4 * from, mo + 4 * from, vo + 4 * from, go + 4 * from, count, o.lr, o.beta1, o.beta2, o.eps, o.bc1, o.bc2, wd);
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
