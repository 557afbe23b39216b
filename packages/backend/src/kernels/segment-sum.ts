import type { KernelConfig, KernelFunc, TensorInfo, TypedArray, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { util } from '@tensorflow/tfjs-core';
import { attrsOf, type KernelPatch } from './registry';
import type { WasmBackend } from './wasm-heap';

/**
 * UnsortedSegmentSum is the gradient of gather (token embeddings). The stock cpu kernel builds one mask per
 * segment (O(numSegments * N * D): minutes per step at vocab 8192) and wasm has none, so both get this
 * single pass over the rows: out[ids[i], :] += x[i, :]  — O(N * D).
 *
 * Shapes (TensorFlow semantics): segmentIds [...S] must be a prefix of x [...S, ...R]; out [numSegments, ...R].
 * Ids outside [0, numSegments) are dropped, as the stock cpu kernel does.
 */
export function segmentSumInto(
  x: TypedArray,
  ids: TypedArray,
  numSegments: number,
  out: Float32Array | Int32Array, // [numSegments * D], zeroed
): void {
  const n = ids.length;
  const d = n === 0 ? 0 : x.length / n;
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * d;
    const dst = s * d;
    for (let j = 0; j < d; j++) out[dst + j] += x[src + j];
  }
}

function outShapeOf(x: TensorInfo, segmentIds: TensorInfo, numSegments: number): number[] {
  const r = segmentIds.shape.length;
  util.assert(
    r >= 1 && r <= x.shape.length && segmentIds.shape.every((s, i) => s === x.shape[i]),
    () => `UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`,
  );
  util.assert(Number.isInteger(numSegments) && numSegments >= 0, () => `UnsortedSegmentSum: numSegments must be a non-negative integer, got ${numSegments}`);
  return [numSegments, ...x.shape.slice(r)];
}

function outDtype(x: TensorInfo): 'float32' | 'int32' {
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`UnsortedSegmentSum: dtype ${x.dtype} is not supported (float32, int32)`);
  return x.dtype;
}

export const wasmSegmentSumPatch: KernelPatch = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  what: 'added (gather gradient), O(N*D) row loop',
  make(): KernelFunc {
    return ({ inputs, backend, attrs }) => {
      const wasm = backend as WasmBackend; // tfjs types it `{}`; this kernel is registered for wasm only
      const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
      const { numSegments } = attrsOf<UnsortedSegmentSumAttrs>(attrs);
      const shape = outShapeOf(x, segmentIds, numSegments);
      const out = wasm.makeOutput(shape, outDtype(x));
      // Views into the heap; nothing below allocates, so they stay valid.
      const o = wasm.typedArrayFromHeap(out) as Float32Array | Int32Array;
      o.fill(0);
      segmentSumInto(wasm.typedArrayFromHeap(x), wasm.typedArrayFromHeap(segmentIds), numSegments, o);
      return out;
    };
  },
};

interface CpuBackend {
  data: { get(dataId: object): { values: TypedArray } };
  makeTensorInfo(shape: number[], dtype: string, values: TypedArray): TensorInfo;
}

export const cpuSegmentSumPatch: KernelPatch = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'cpu',
  what: 'replaced: O(N*D) row loop instead of one mask per segment',
  make(_original: KernelConfig | undefined): KernelFunc {
    return ({ inputs, backend, attrs }) => {
      const cpu = backend as CpuBackend; // tfjs types it `{}`; this kernel is registered for cpu only
      const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
      const { numSegments } = attrsOf<UnsortedSegmentSumAttrs>(attrs);
      const shape = outShapeOf(x, segmentIds, numSegments);
      const dtype = outDtype(x);
      const out = dtype === 'int32' ? new Int32Array(util.sizeFromShape(shape)) : new Float32Array(util.sizeFromShape(shape));
      segmentSumInto(cpu.data.get(x.dataId).values, cpu.data.get(segmentIds.dataId).values, numSegments, out);
      return cpu.makeTensorInfo(shape, dtype, out);
    };
  },
};
