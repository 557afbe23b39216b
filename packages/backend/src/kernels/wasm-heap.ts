import type { DataType, KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { util } from '@tensorflow/tfjs-core';

/**
 * The parts of tfjs-backend-wasm's BackendWasm that our kernels use. The wasm package exports the class but
 * not these members' types, so they are spelled out here (stable across 4.x).
 */
export interface WasmBackend extends KernelBackend {
  wasm: { HEAPU8: Uint8Array; tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void } };
  dataIdMap: {
    get(dataId: object): { id: number; memoryOffset: number; shape: number[]; dtype: DataType; refCount: number };
    delete(dataId: object): boolean;
  };
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function offsetOf(backend: WasmBackend, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/**
 * A tensor that aliases `size(shape)` elements of the heap at `byteOffset` without allocating, so a batch of a
 * larger tensor can be handed to a wasm kernel without a copy. Release it with dropView, never disposeData
 * (which would free memory it does not own).
 */
export function makeView(backend: WasmBackend, byteOffset: number, shape: number[], dtype: DataType = 'float32'): TensorInfo {
  return backend.makeOutput(shape, dtype, byteOffset);
}

export function dropView(backend: WasmBackend, view: TensorInfo): void {
  const { id } = backend.dataIdMap.get(view.dataId);
  backend.wasm.tfjs.disposeData(id);
  backend.dataIdMap.delete(view.dataId);
}

/** Same data, another shape: for passing to a kernel; not owned, never disposed. */
export function reshaped(t: TensorInfo, shape: number[]): TensorInfo {
  util.assert(util.sizeFromShape(shape) === util.sizeFromShape(t.shape), () => `reshape ${t.shape} -> ${shape}`);
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** Copies `bytes` bytes inside the heap (memmove). Reads HEAPU8 afresh: it is replaced when memory grows. */
export function heapCopy(backend: WasmBackend, dst: number, src: number, bytes: number): void {
  backend.wasm.HEAPU8.copyWithin(dst, src, src + bytes);
}
