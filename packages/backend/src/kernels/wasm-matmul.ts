import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { broadcast_util, util } from '@tensorflow/tfjs-core';
import type { KernelPatch } from './registry';
import { WasmBackend, dropView, heapCopy, makeView, offsetOf, reshaped } from './wasm-heap';
import { broadcastBatchIndex } from '@altclip/native';

/**
 * tfjs-backend-wasm 4.x runs BatchMatMul/_FusedMatMul through XNNPACK only when both operands are 2-D
 * (batch 1) and neither is transposed; everything else falls into a scalar loop at 1-4 GFLOP/s (vs ~25-45).
 * Every backward matmul is transposed and every attention matmul is batched, so training lived in the slow
 * loop. These wrappers rewrite each call into fast-path calls:
 *  - transposed operands are materialised with wasm's Transpose kernel (O(n), memory bound);
 *  - a batch that only `a` has is folded into rows: [..., M, K] x [K, N] -> one [B*M, K] x [K, N] call;
 *  - a batch that only `b` has is folded into columns (BatchMatMul only; a bias would not line up):
 *    [M, K] x [B, K, N] -> [M, K] x [K, B*N], then the result is transposed back to [B, M, N];
 *  - a batch on both sides (attention) loops over the broadcast batch, passing each slice to the fast
 *    path as a zero-copy view of the heap and copying each [M, N] result into place.
 */

/** Runs the stock kernel on a[1, M, K] x b[1, K, N], both non-transposed; returns a new [1, M, N] tensor. */
type Fast2D = (a: TensorInfo, b: TensorInfo) => TensorInfo;

function transposeLast2(backend: WasmBackend, x: TensorInfo): TensorInfo {
  const r = x.shape.length;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return wasmTranspose(backend, x, perm);
}

function wasmTranspose(backend: WasmBackend, x: TensorInfo, perm: number[]): TensorInfo {
  const k = tf.getKernel('Transpose', 'wasm');
  if (!k) throw new Error('tfjs-backend-wasm has no Transpose kernel registered');
  return k.kernelFunc({ inputs: { x }, backend, attrs: { perm } }) as TensorInfo;
}


/** float32 a x b (with transposes and batch broadcasting as tf.matMul) using only `fast` 2-D calls. */
export function routedMatMul(
  backend: WasmBackend,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  fast: Fast2D,
  foldBatchOfB: boolean,
): TensorInfo {
  const temps: TensorInfo[] = [];
  try {
    const A = transposeA ? transposeLast2(backend, a) : a; // [...batchA, M, K]
    const B = transposeB ? transposeLast2(backend, b) : b; // [...batchB, K, N]
    if (transposeA) temps.push(A);
    if (transposeB) temps.push(B);
    const [M, K] = A.shape.slice(-2);
    const [K2, N] = B.shape.slice(-2);
    util.assert(K === K2, () => `Error in matMul: inner shapes (${K}) and (${K2}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
    const batchA = A.shape.slice(0, -2);
    const batchB = B.shape.slice(0, -2);
    const outBatch = broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
    const outShape = [...outBatch, M, N];
    const sA = util.sizeFromShape(batchA);
    const sB = util.sizeFromShape(batchB);

    if (sB === 1) {
      const c = fast(reshaped(A, [1, sA * M, K]), reshaped(B, [1, K, N]));
      return { dataId: c.dataId, shape: outShape, dtype: 'float32' };
    }
    if (sA === 1 && foldBatchOfB) {
      const Bt = wasmTranspose(backend, reshaped(B, [sB, K, N]), [1, 0, 2]); // [K, sB, N]
      temps.push(Bt);
      const c = fast(reshaped(A, [1, M, K]), reshaped(Bt, [1, K, sB * N])); // [M, sB*N]
      temps.push(c);
      const out = wasmTranspose(backend, reshaped(c, [M, sB, N]), [1, 0, 2]); // [sB, M, N]
      return { dataId: out.dataId, shape: outShape, dtype: 'float32' };
    }

    const nOut = util.sizeFromShape(outBatch);
    const ia = broadcastBatchIndex(outBatch, batchA);
    const ib = broadcastBatchIndex(outBatch, batchB);
    const out = backend.makeOutput([nOut, M, N], 'float32');
    const aOff = offsetOf(backend, A);
    const bOff = offsetOf(backend, B);
    const outOff = offsetOf(backend, out);
    for (let o = 0; o < nOut; o++) {
      const av = makeView(backend, aOff + ia[o] * M * K * 4, [1, M, K]);
      const bv = makeView(backend, bOff + ib[o] * K * N * 4, [1, K, N]);
      try {
        const c = fast(av, bv);
        heapCopy(backend, outOff + o * M * N * 4, offsetOf(backend, c), M * N * 4);
        backend.disposeData(c.dataId);
      } finally {
        dropView(backend, av);
        dropView(backend, bv);
      }
    }
    return { dataId: out.dataId, shape: outShape, dtype: 'float32' };
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

function isEmpty(...ts: TensorInfo[]): boolean {
  return ts.some((t) => util.sizeFromShape(t.shape) === 0);
}

export const wasmBatchMatMulPatch: KernelPatch = {
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  what: 'transposed/batched matmul routed to the XNNPACK 2-D fast path',
  make(original: KernelConfig | undefined): KernelFunc {
    if (!original) throw new Error('tfjs-backend-wasm has no BatchMatMul kernel to wrap');
    const stock = original.kernelFunc;
    return (args) => {
      const backend = args.backend as unknown as WasmBackend;
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      // int32 (and anything else) goes to the stock kernel, which reports what it does not support.
      if (a.dtype !== 'float32' || b.dtype !== 'float32' || isEmpty(a, b)) return stock(args);
      const fast: Fast2D = (a3, b3) =>
        stock({ inputs: { a: a3, b: b3 }, backend: args.backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
      return routedMatMul(backend, a, b, !!transposeA, !!transposeB, fast, true);
    };
  },
};

export const wasmFusedMatMulPatch: KernelPatch = {
  kernelName: '_FusedMatMul',
  backendName: 'wasm',
  what: 'fused (bias/activation) matmul routed like BatchMatMul',
  make(original: KernelConfig | undefined): KernelFunc {
    if (!original) throw new Error('tfjs-backend-wasm has no _FusedMatMul kernel to wrap');
    const stock = original.kernelFunc;
    return (args) => {
      const backend = args.backend as unknown as WasmBackend;
      const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
      const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      // The stock kernel applies bias/PReLU weights along the last axis only; anything else (and non-float32)
      // is left to it, so its own error messages stay the same.
      const perChannel = (t: TensorInfo | undefined) => t == null || t.shape.length <= 1;
      if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32' || isEmpty(a, b) || !perChannel(bias) || !perChannel(preluActivationWeights)) {
        return stock(args);
      }
      const fast: Fast2D = (a3, b3) =>
        stock({
          inputs: { a: a3, b: b3, ...(bias ? { bias } : {}), ...(preluActivationWeights ? { preluActivationWeights } : {}) },
          backend: args.backend,
          attrs: { ...(args.attrs as object), transposeA: false, transposeB: false },
        }) as TensorInfo;
      return routedMatMul(backend, a, b, !!attrs.transposeA, !!attrs.transposeB, fast, false);
    };
  },
};
