import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap } from '@tensorflow/tfjs-core';

/**
 * A kernel we add or replace. `make` receives the stock kernel (undefined when the backend has none)
 * so a replacement can hand the cases it does not speed up back to it.
 */
export interface KernelPatch {
  kernelName: string;
  backendName: 'wasm' | 'cpu';
  /** One line for `altclip info`: what the patch does. */
  what: string;
  make(original: KernelConfig | undefined): KernelFunc;
}

/**
 * A kernel's or gradient's attrs as the op's attrs interface (tfjs-core's `BatchMatMulAttrs` etc.). tfjs hands every
 * kernel the loose `NamedAttrMap` the op passed to runKernel; the interfaces have no index signature, so TypeScript
 * cannot relate the two. This is the one place that asserts it (tfjs's own kernels cast their whole kernelFunc).
 */
export function attrsOf<A extends object>(attrs: NamedAttrMap | undefined): A {
  return attrs as A;
}

interface Applied {
  patch: KernelPatch;
  original: KernelConfig | undefined;
}

const applied = new Map<string, Applied>();
const key = (p: { kernelName: string; backendName: string }) => `${p.backendName}/${p.kernelName}`;

function backendLoaded(name: string): boolean {
  return tf.findBackendFactory(name) != null;
}

/**
 * Registers every patch whose backend is loaded (its package required). Idempotent: a patch already in place
 * is left alone, so setupBackend() may call this on every switch.
 */
export function applyPatches(patches: KernelPatch[]): string[] {
  const done: string[] = [];
  for (const p of patches) {
    if (applied.has(key(p)) || !backendLoaded(p.backendName)) continue;
    const original = tf.getKernel(p.kernelName, p.backendName);
    // A kernel config's setupFunc has already run for an initialised backend; our kernels need none.
    if (original) tf.unregisterKernel(p.kernelName, p.backendName);
    tf.registerKernel({ kernelName: p.kernelName, backendName: p.backendName, kernelFunc: p.make(original) });
    applied.set(key(p), { patch: p, original });
    done.push(key(p));
  }
  return done;
}

/**
 * Puts the stock kernels back (and removes the ones the backend never had); with `kernelNames`, only those.
 * Used by the benchmark and tests.
 */
export function removePatches(kernelNames?: string[]): void {
  for (const [k, { patch, original }] of applied) {
    if (kernelNames && !kernelNames.includes(patch.kernelName)) continue;
    tf.unregisterKernel(patch.kernelName, patch.backendName);
    if (original) tf.registerKernel(original);
    applied.delete(k);
  }
}

/** `backend/Kernel: what` for every patch in place. */
export function appliedPatches(): Array<{ backend: string; kernel: string; what: string; replaces: boolean }> {
  return [...applied.values()].map(({ patch, original }) => ({
    backend: patch.backendName,
    kernel: patch.kernelName,
    what: patch.what,
    replaces: original != null,
  }));
}
