/**
 * @altclip/native: the optional fast CPU path. An N-API addon (built at install when a C++ compiler and OpenBLAS
 * are present) whose kernels replace the wasm backend's hot ones and work directly on the wasm heap.
 * Everything here degrades to "not available" instead of throwing: without the addon the project runs on the
 * pure TypeScript/wasm path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GEMM_ISAS, GemmIsa, GemmMode, INSTALL_HINT, loadAddon } from './addon';
import { NATIVE_KERNELS, activeKernels, registerKernels, unregisterKernels } from './kernels';
import { ARENA_BACKEND, arenaCacheBytes, defaultArenaBytes, registerArenaBackend } from './arena-backend';
import { MOVEMENT_KERNELS } from './movement';
import { ELEMENTWISE_KERNELS } from './elementwise';
import { FUSED_KERNELS, registerFusedGradients } from './fused';
import { BF16_KERNELS } from './bf16';

export { nativeAdamWStep, nativeScaleInPlace, nativeSumSquares, nativeZeroRowsInPlace } from './adamw';
export type { AdamWStepOptions } from './adamw';
export { NATIVE_KERNELS, broadcastIndex, broadcastPlan } from './kernels';
export { broadcastBatchIndex, settingError } from './broadcast';
export { ELEMENTWISE_KERNELS } from './elementwise';
export { FUSED_KERNELS, FUSED_KERNEL_NAMES, maskStrides } from './fused';
export { GEMM_ISAS, GEMM_TYPES, INSTALL_HINT, loadAddon } from './addon';
export { BF16_KERNELS, BF16_KERNEL_NAMES } from './bf16';
export { ARENA_BACKEND, ArenaBackend, arenaCacheBytes, defaultArenaBytes, fallbackKernelUse } from './arena-backend';
export type { NativeAddon, ArenaStats, GemmIsa, GemmMode } from './addon';

export interface NativeStatus {
  /** The addon is built and loaded. */
  available: boolean;
  /** Kernels registered on the wasm backend now. */
  kernels: string[];
  /** Why it is unavailable, and what to install. */
  why?: string;
  /** The matmul library in use: OpenBLAS's config/core, or `built-in SGEMM` and its code path. */
  blas?: { config: string; core: string; threads: number };
  /**
   * Which SGEMM the matmul kernels use (ALTCLIP_NATIVE_GEMM): 'auto' (the default with OpenBLAS: the built-in AVX-512
   * tile on the shapes where it is faster, OpenBLAS elsewhere), 'builtin' or 'openblas'.
   */
  gemm?: GemmMode;
  /** The built-in SGEMM's code path (used when `gemm` is 'builtin', and by 'auto' where it wins). */
  gemmIsa?: GemmIsa;
  openblas?: boolean;
  /** Elementwise kernels' thread pool size. */
  threads?: number;
  /**
   * bf16 products (AltclipGemmBf16): `native` when this CPU has AVX512_BF16 (vdpbf16ps), and the tile they run on,
   * 'avx512_bf16' or 'emulated' (float32 FMAs on widened bf16: same values, no speed-up; where the CPU lacks it or
   * ALTCLIP_NATIVE_BF16=emulate); `forced`: emulation asked for (that variable, or setNativeBf16Emulation(true)).
   */
  bf16?: { native: boolean; isa: 'avx512_bf16' | 'emulated'; forced: boolean };
}

export function nativeStatus(): NativeStatus {
  const { addon, why } = loadAddon();
  if (!addon) return { available: false, kernels: [], why };
  const i = addon.info();
  const mixed = i.gemm === 'auto' && i.autoBuiltin !== '';
  const blas = i.gemm === 'builtin'
    ? { config: `built-in SGEMM${i.openblas ? ' (OpenBLAS linked, not used)' : ' (OpenBLAS not found at build)'}`, core: i.builtinCore, threads: i.threads }
    : { config: i.blasConfig, core: mixed ? `${i.blasCore}; built-in ${i.builtinIsa} SGEMM for ${i.autoBuiltin}` : i.blasCore, threads: i.blasThreads };
  return { available: true, kernels: activeKernels(), blas, gemm: i.gemm, gemmIsa: i.builtinIsa, openblas: i.openblas, threads: i.threads, bf16: addon.bf16Info() };
}

/**
 * Registers the native kernels on the wasm backend (call after the wasm backend is initialised and any other
 * kernel patches are in place: the kernels registered before become the fallbacks). Returns the status; never throws
 * for a missing addon.
 */
export function registerNativeKernels(only?: string[]): NativeStatus {
  const { addon } = loadAddon();
  if (addon && tf.findBackendFactory('wasm') != null) {
    registerFusedGradients();
    registerKernels(addon, only, 'wasm', WASM_KERNELS);
  }
  return nativeStatus();
}

/** Restores the kernels that were in place before registerNativeKernels (benchmarks, tests). */
export function unregisterNativeKernels(): void {
  unregisterKernels();
}

/** Threads for OpenBLAS and the elementwise pool (default ALTCLIP_NATIVE_THREADS or one per CPU). */
export function setNativeThreads(n: number): void {
  const { addon } = loadAddon();
  if (!addon) throw new Error(`@altclip/native is not available (${INSTALL_HINT})`);
  addon.setThreads(n);
}

/**
 * Picks the matmul SGEMM: 'builtin' (csrc/sgemm.cc), 'openblas', or 'auto' (per shape: the built-in AVX-512 tile
 * where it beats OpenBLAS, OpenBLAS elsewhere); without OpenBLAS it stays built-in. The default (csrc/sgemm.h
 * gemmModeByDefault): ALTCLIP_NATIVE_GEMM when set, else 'builtin' when ALTCLIP_NATIVE_ISA is set, else 'auto'.
 * Returns the one now in use.
 */
export function setNativeGemm(which: GemmMode): GemmMode {
  const { addon } = loadAddon();
  if (!addon) throw new Error(`@altclip/native is not available (${INSTALL_HINT})`);
  addon.setGemm(which);
  return addon.info().gemm;
}

/**
 * Picks the built-in SGEMM's code path ('avx512' | 'avx2' | 'baseline'; default: the best this CPU runs, or
 * ALTCLIP_NATIVE_ISA). Throws, naming the CPU's paths, for one this CPU cannot run. Returns the one now in use.
 */
export function setNativeGemmIsa(isa: GemmIsa): GemmIsa {
  const { addon } = loadAddon();
  if (!addon) throw new Error(`@altclip/native is not available (${INSTALL_HINT})`);
  if (!addon.setGemmIsa(isa)) {
    throw new Error(`setNativeGemmIsa: '${isa}' is not a built-in SGEMM code path this CPU runs (supported here: ${supportedGemmIsas().join(', ')})`);
  }
  return addon.info().builtinIsa;
}

/**
 * Forces the emulated bf16 tile (true) even where AVX512_BF16 exists, or goes back to the best (false); same as
 * ALTCLIP_NATIVE_BF16=emulate at load. Tests compare the two; the emulated one is what CPUs without it run.
 */
export function setNativeBf16Emulation(on: boolean): void {
  const { addon } = loadAddon();
  if (!addon) throw new Error(`@altclip/native is not available (${INSTALL_HINT})`);
  addon.setBf16Emulation(on);
}

/**
 * GFLOP/s of a register-only loop (`npm run bench -- peak`): kind 'fp32' (FMA on the widest vectors this CPU has)
 * or 'bf16' (vdpbf16ps; null where the CPU lacks it), over about `seconds`, on `threads` threads.
 */
export function measurePeak(kind: 'fp32' | 'bf16', threads: number, seconds = 0.5): number | null {
  const { addon } = loadAddon();
  if (!addon) throw new Error(`@altclip/native is not available (${INSTALL_HINT})`);
  const code = kind === 'bf16' ? 1 : 0;
  let iters = 1e5;
  for (;;) {
    const t0 = process.hrtime.bigint();
    const flops = addon.peakLoop(code, iters, threads);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (flops === 0) return null;
    if (dt >= seconds) return flops / dt / 1e9;
    iters = Math.ceil(iters * Math.min(16, (seconds * 1.1) / Math.max(dt, 1e-4)));
  }
}

/** The built-in SGEMM code paths this CPU runs, fastest first (tries each, then restores the current one). */
export function supportedGemmIsas(): GemmIsa[] {
  const { addon } = loadAddon();
  if (!addon) return [];
  const current = addon.info().builtinIsa;
  const ok = GEMM_ISAS.filter((isa) => addon.setGemmIsa(isa));
  addon.setGemmIsa(current);
  return ok;
}

/** Kernels registered on the wasm backend: the native ones and the fused transformer-block ones (src/fused.ts). */
const WASM_KERNELS = { ...NATIVE_KERNELS, ...FUSED_KERNELS, ...BF16_KERNELS };
export const NATIVE_KERNEL_NAMES = Object.keys(WASM_KERNELS);

/** Every native kernel of the `native` backend (the wasm backend uses WASM_KERNELS only). */
export const NATIVE_BACKEND_KERNELS = { ...NATIVE_KERNELS, ...MOVEMENT_KERNELS, ...ELEMENTWISE_KERNELS, ...FUSED_KERNELS, ...BF16_KERNELS };

/**
 * Registers the `native` backend (tensors in native memory, every hot kernel native; see arena-backend.ts) when
 * the addon is built. Call after any cpu kernel patches are registered: the cpu kernels are copied as fallbacks.
 * Returns why not when it cannot be registered; never throws for a missing addon.
 */
export function registerNativeBackend(): { registered: boolean; why?: string } {
  const { addon, why } = loadAddon();
  if (!addon) return { registered: false, why };
  // Settings are checked here, before tfjs initialises the backend (where a throw is printed as a stack trace and
  // the backend is silently skipped); a wrong one throws a SettingError, which setupBackend raises.
  defaultArenaBytes();
  arenaCacheBytes();
  registerArenaBackend(addon);
  registerFusedGradients();
  registerKernels(addon, undefined, ARENA_BACKEND, NATIVE_BACKEND_KERNELS);
  return { registered: true };
}

/** Native kernels registered on the `native` backend. */
export function nativeBackendKernels(): string[] {
  return activeKernels(ARENA_BACKEND);
}
