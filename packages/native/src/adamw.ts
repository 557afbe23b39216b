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
  addon.adamw(host.heap(), host.offset(p), host.offset(m), host.offset(v), host.offset(g), n, o.lr, o.beta1, o.beta2, o.eps, o.bc1, o.bc2, o.weightDecay);
  return true;
}
