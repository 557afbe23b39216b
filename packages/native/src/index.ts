/**
 * @altclip/native: the optional fast CPU path. An N-API addon (built at install when a C++ compiler and OpenBLAS
 * are present) whose kernels replace the wasm backend's hot ones and work directly on the wasm heap.
 * Everything here degrades to "not available" instead of throwing: without the addon the project runs on the
 * pure TypeScript/wasm path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { INSTALL_HINT, loadAddon } from './addon';
import { NATIVE_KERNELS, activeKernels, registerKernels, unregisterKernels } from './kernels';

export { nativeAdamWStep } from './adamw';
export type { AdamWStepOptions } from './adamw';
export { NATIVE_KERNELS, broadcastIndex, broadcastPlan } from './kernels';
export { INSTALL_HINT, loadAddon } from './addon';
export type { NativeAddon } from './addon';

export interface NativeStatus {
  /** The addon is built and loaded. */
  available: boolean;
  /** Kernels registered on the wasm backend now. */
  kernels: string[];
  /** Why it is unavailable, and what to install. */
  why?: string;
  blas?: { config: string; core: string; threads: number };
  /** Elementwise kernels' thread pool size. */
  threads?: number;
}

export function nativeStatus(): NativeStatus {
  const { addon, why } = loadAddon();
  if (!addon) return { available: false, kernels: [], why };
  const i = addon.info();
  return { available: true, kernels: activeKernels(), blas: { config: i.blasConfig, core: i.blasCore, threads: i.blasThreads }, threads: i.threads };
}

/**
 * Registers the native kernels on the wasm backend (call after the wasm backend is initialised and any other
 * kernel patches are in place: the kernels registered before become the fallbacks). Returns the status; never throws
 * for a missing addon.
 */
export function registerNativeKernels(only?: string[]): NativeStatus {
  const { addon } = loadAddon();
  if (addon && tf.findBackendFactory('wasm') != null) registerKernels(addon, only);
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

export const NATIVE_KERNEL_NAMES = Object.keys(NATIVE_KERNELS);
