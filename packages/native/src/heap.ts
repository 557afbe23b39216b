import type { DataType, KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * The members of tfjs-backend-wasm's BackendWasm that the native kernels use (not in its public typings; stable
 * across 4.x). Tensor data lives in the wasm heap at `memoryOffset`; kernels pass the heap and offsets to C++.
 */
export interface WasmBackendLike extends KernelBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number; refCount: number } | undefined };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

/**
 * The heap as a byte view. Always read it afresh, after any allocation: growing the wasm memory detaches the old
 * ArrayBuffer and Emscripten replaces HEAPU8.
 */
export function heap(backend: WasmBackendLike): Uint8Array {
  return backend.wasm.HEAPU8;
}

export function offsetOf(backend: WasmBackendLike, t: TensorInfo): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d || d.memoryOffset == null) throw new Error(`native kernel: tensor ${t.shape} (${t.dtype}) has no wasm heap data`);
  return d.memoryOffset;
}

export function isWasmBackend(b: unknown): b is WasmBackendLike {
  const w = b as Partial<WasmBackendLike> | null;
  return !!w && !!w.wasm && w.wasm.HEAPU8 instanceof Uint8Array && typeof w.makeOutput === 'function' && !!w.dataIdMap;
}
