import * as tf from '@tensorflow/tfjs-core';
import * as native from '@altclip/native';
/**
 * Optional hook-up of @altclip/native (issue 8), kept apart from setup.ts: setupBackend() calls
 * enableNativeKernels() once the wasm backend and this package's kernel patches are in place, so the native
 * kernels sit on top and fall back to the patched ones. ALTCLIP_NATIVE=0 disables it. A missing package or an
 * unbuilt addon is never an error: the pure TypeScript/wasm path stays in use and backendInfo() says what to install.
 */
export const NATIVE_INSTALL_HINT = native.INSTALL_HINT;

export interface NativeInfo {
  /** @altclip/native can be required. */
  installed: boolean;
  /** Its kernels are registered on the wasm backend now. */
  active: boolean;
  kernels: string[];
  /** One line for `altclip info`: what is active, or why not and what to install. */
  note: string;
}

/** The package, unless ALTCLIP_NATIVE=0 (its addon may still be unbuilt: its functions then say so). */
function load(): typeof native | undefined {
  return process.env.ALTCLIP_NATIVE === '0' ? undefined : native;
}

/**
 * Registers @altclip/native's `native` backend (tensors in native memory). Throws, saying why and what to install,
 * when it cannot (setupBackend then tries the next backend, or reports the error when `native` was requested).
 */
export function registerNativeBackend(): void {
  if (process.env.ALTCLIP_NATIVE === '0') throw new Error('disabled by ALTCLIP_NATIVE=0');
  const mod = load();
  if (!mod) throw new Error(`@altclip/native is not installed (${NATIVE_INSTALL_HINT})`);
  const r = mod.registerNativeBackend();
  if (!r.registered) throw new Error(`@altclip/native is not usable: ${r.why ?? 'unknown reason'}`);
}

/**
 * Loads the addon (when built and not turned off) whatever the backend, for its process-wide malloc settings: a
 * fixed mmap threshold and the free arena pages handed back once a second (issue 24, item 15).
 */
export function tuneProcessMemory(): void {
  load()?.loadAddon();
}

/** Registers the native kernels on the wasm backend when available; returns what is active. */
export function enableNativeKernels(): NativeInfo {
  load()?.registerNativeKernels();
  return nativeInfo();
}

/**
 * Threads of @altclip/native's kernels (its pool and OpenBLAS). Returns the count before, or undefined (nothing
 * changed) when the addon is not available.
 */
export function setNativeThreads(n: number): number | undefined {
  const mod = load();
  const before = mod?.nativeStatus().threads;
  if (!mod || before === undefined) return undefined;
  mod.setNativeThreads(n);
  return before;
}

/** Takes the native kernels off the wasm backend (the ones registered before them come back). */
export function disableNativeKernels(): void {
  load()?.unregisterNativeKernels();
}

/**
 * The addon's bf16 GEMM (@altclip/native's nativeStatus().bf16): `native` when the CPU has AVX512_BF16 (vdpbf16ps),
 * the tile bf16 products run on ('avx512_bf16' or 'emulated'), and whether emulation was asked for; undefined
 * without the addon.
 */
export function nativeBf16(): { native: boolean; isa: string; forced: boolean } | undefined {
  const s = load()?.nativeStatus();
  return s?.available ? s.bf16 : undefined;
}

/** Arena figures of the `native` backend when it is the current backend (arena-backend.ts). */
export interface NativeArenaInfo {
  reservedGiB: number;
  liveMiB: number;
  peakMiB: number;
  cachedMiB: number;
  cacheCapMiB: number;
}

export function nativeArenaInfo(): NativeArenaInfo | undefined {
  const be = tf.getBackend() === 'native' ? tf.backend() : undefined;
  if (!native.isArenaBackend(be)) return undefined;
  const s = be.arenaStats();
  const mib = (b: number) => Math.round(b / 2 ** 20);
  return { reservedGiB: Math.round(s.reserved / 2 ** 30), liveMiB: mib(s.live), peakMiB: mib(s.peakLive), cachedMiB: mib(s.cached), cacheCapMiB: mib(s.cacheCap) };
}

export function nativeInfo(): NativeInfo {
  if (process.env.ALTCLIP_NATIVE === '0') return { installed: false, active: false, kernels: [], note: 'disabled by ALTCLIP_NATIVE=0 (pure TypeScript/wasm path)' };
  const mod = load();
  if (!mod) return { installed: false, active: false, kernels: [], note: `not installed (pure TypeScript/wasm path); for the fast path: ${NATIVE_INSTALL_HINT}` };
  const s = mod.nativeStatus();
  if (!s.available) return { installed: true, active: false, kernels: [], note: `@altclip/native is installed but not usable: ${s.why ?? 'unknown reason'} (pure TypeScript/wasm path)` };
  const blas = s.blas ? `${s.blas.config.split(' ').slice(0, 2).join(' ')} (${s.blas.core}, ${s.blas.threads} thread(s))` : 'BLAS';
  if (tf.getBackend() === 'native') {
    const kernels = mod.nativeBackendKernels();
    return {
      installed: true,
      active: true,
      kernels,
      note: `active as the 'native' backend: ${blas}, ${s.threads} thread(s) for the other kernels; ${kernels.length} native kernels, the rest of tfjs's cpu kernels as fallbacks`,
    };
  }
  const note = s.kernels.length
    ? `active: ${blas}, ${s.threads} thread(s) for elementwise kernels; on wasm: ${s.kernels.join(', ')}`
    : `built (${blas}) but no kernels registered (only the wasm backend uses them)`;
  return { installed: true, active: s.kernels.length > 0, kernels: s.kernels, note };
}
