import type { DataType, KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import type { ArenaStats } from './addon';

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
 * Where a kernel's tensors live, as the C++ side needs it: a heap (a typed array, or null for the native backend's
 * arena) and a byte offset per tensor. The same kernel code serves the wasm heap and the arena.
 */
export interface KernelHost {
  /** The heap argument of every addon call. Read it after allocating: growing the wasm memory replaces it. */
  heap(): Uint8Array | null;
  offset(t: TensorInfo): number;
  /** A new uninitialised output tensor. */
  output(shape: number[], dtype: DataType): TensorInfo;
  /** Frees an output the kernel decided not to return. */
  release(t: TensorInfo): void;
}

export function isWasmBackend(b: unknown): b is WasmBackendLike {
  const w = b as Partial<WasmBackendLike> | null;
  return !!w && !!w.wasm && w.wasm.HEAPU8 instanceof Uint8Array && typeof w.makeOutput === 'function' && !!w.dataIdMap;
}

export function wasmHost(backend: WasmBackendLike): KernelHost {
  return {
    heap: () => backend.wasm.HEAPU8,
    offset: (t) => {
      const d = backend.dataIdMap.get(t.dataId);
      if (!d || d.memoryOffset == null) throw new Error(`native kernel: tensor ${t.shape} (${t.dtype}) has no wasm heap data`);
      return d.memoryOffset;
    },
    output: (shape, dtype) => backend.makeOutput(shape, dtype),
    release: (t) => void backend.disposeData(t.dataId),
  };
}

/** What the arena backend (arena-backend.ts) offers kernels; checked structurally to avoid an import cycle. */
export interface ArenaBackendLike extends KernelBackend {
  readonly isArenaBackend: true;
  kernelHost: KernelHost;
  arenaStats(): ArenaStats;
}

export function isArenaBackend(b: unknown): b is ArenaBackendLike {
  return !!b && (b as Partial<ArenaBackendLike>).isArenaBackend === true;
}

const wasmHosts = new WeakMap<object, KernelHost>();

/** The host for whichever native-capable backend `b` is, or null. */
export function hostOf(b: unknown): KernelHost | null {
  if (isArenaBackend(b)) return b.kernelHost;
  if (!isWasmBackend(b)) return null;
  let h = wasmHosts.get(b);
  if (!h) wasmHosts.set(b, (h = wasmHost(b)));
  return h;
}
