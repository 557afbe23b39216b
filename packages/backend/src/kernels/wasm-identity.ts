import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { KernelPatch } from './registry';
import type { WasmBackend } from './wasm-heap';

/**
 * While recording gradients, the tfjs engine saves every op's inputs/outputs with tf.clone(), which runs the
 * Identity kernel. Stock wasm's Identity copies the whole buffer (15% of a training step's kernel time in
 * bench train-step); the cpu backend just shares the buffer with a reference count. Tensors are immutable
 * and the wasm backend already reference-counts buffers (its Reshape shares them), so share here too.
 */
export const wasmIdentityPatch: KernelPatch = {
  kernelName: 'Identity',
  backendName: 'wasm',
  what: 'replaced: shares the buffer (refcount) instead of copying; tf.clone runs on every saved tensor in training',
  make(original: KernelConfig | undefined): KernelFunc {
    return (args) => {
      const { inputs, backend } = args;
      const { x } = inputs as { x: TensorInfo };
      if (x.dtype === 'string' && original) return original.kernelFunc(args);
      (backend as WasmBackend).incRef(x.dataId); // tfjs types it `{}`; this kernel is registered for wasm only
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    };
  },
};
