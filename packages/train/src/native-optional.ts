import type * as tf from '@tensorflow/tfjs-core';

/**
 * The optional @altclip/native functions the optimizer path uses (ALTCLIP_NATIVE=0 or a missing package: none, and
 * the callers run their tfjs code). Each returns false/null when it cannot run natively for that tensor.
 */
export interface NativeOptimizerOps {
  nativeAdamWStep(
    p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor,
    o: { lr: number; beta1: number; beta2: number; eps: number; bc1: number; bc2: number; weightDecay: number; noDecayRows?: number[]; gradScale?: number },
  ): boolean;
  nativeSumSquares(t: tf.Tensor): number | null;
  nativeScaleInPlace(t: tf.Tensor, s: number): boolean;
  nativeZeroRowsInPlace(t: tf.Tensor, rows: number[]): boolean;
}

let ops: NativeOptimizerOps | null | undefined;

export function nativeOptimizerOps(): NativeOptimizerOps | null {
  if (ops === undefined) {
    try {
      ops = process.env.ALTCLIP_NATIVE === '0' ? null : (require('@altclip/native') as NativeOptimizerOps);
    } catch {
      ops = null;
    }
  }
  return ops;
}
