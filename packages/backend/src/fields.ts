import * as tf from '@tensorflow/tfjs-core';

/**
 * The fields of a registered backend that tfjs does not declare (tfjs-node's binding, the wasm module, the cpu
 * banner flag, the native backend's arena views), typed as optional so every caller checks before use. tfjs types
 * backends as KernelBackend, which declares none of them: this is the one cast for all such probes.
 */
export function backendFields<T extends object>(backend: tf.KernelBackend | null | undefined = tf.backend()): Partial<T> | null {
  return (backend ?? null) as unknown as Partial<T> | null;
}
