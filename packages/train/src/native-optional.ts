import * as native from '@altclip/native';

/**
 * The @altclip/native functions the optimizer path uses (ALTCLIP_NATIVE=0: none, and the callers run their tfjs
 * code). Each returns false/null where it cannot run natively for that tensor (addon not built, not its tensor).
 */
export type NativeOptimizerOps = Pick<typeof native, 'nativeAdamWStep' | 'nativeSumSquares' | 'nativeScaleInPlace' | 'nativeZeroRowsInPlace'>;

export function nativeOptimizerOps(): NativeOptimizerOps | null {
  return process.env.ALTCLIP_NATIVE === '0' ? null : native;
}
