import * as tf from '@tensorflow/tfjs-core';
import { KERNEL_PATCHES, applyPatches, removePatches } from './kernels';
import { registerGradients } from './gradients';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_ORDER: BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export interface BackendChoice {
  name: BackendName;
  /** Why this backend was chosen (and why better ones were not). */
  reason: string;
  /** What was tried before it, with the error for each. */
  skipped: Array<{ name: BackendName; why: string }>;
}

export interface SetupOptions {
  /** 'auto' (default) picks the best available; an explicit name is an error if unavailable. */
  backend?: BackendName | 'auto';
  /** wasm thread count (only honoured by the threaded wasm build, which tfjs 4.22 does not load in Node). */
  threads?: number;
  /** Register this package's kernel additions/replacements (default true); false keeps stock tfjs kernels. */
  patchKernels?: boolean;
}

let current: BackendChoice | undefined;

async function tryRegister(name: BackendName, threads?: number): Promise<void> {
  switch (name) {
    case 'tensorflow': {
      let lastErr: unknown;
      for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
        try {
          require(pkg);
          return;
        } catch (e) {
          lastErr = e;
        }
      }
      throw new Error(`neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed (${(lastErr as Error)?.message?.split('\n')[0]})`);
    }
    case 'wasm': {
      const wasm = require('@tensorflow/tfjs-backend-wasm');
      if (threads != null && tf.findBackend('wasm') == null) wasm.setThreadsCount(threads);
      return;
    }
    case 'cpu':
      require('@tensorflow/tfjs-backend-cpu');
      return;
  }
}

/**
 * Picks and initialises the TensorFlow.js backend: tensorflow (native) > wasm > cpu.
 * `opts.backend` or ALTCLIP_BACKEND forces one; forcing an unavailable backend throws instead of falling back.
 */
export async function setupBackend(opts: SetupOptions = {}): Promise<BackendChoice> {
  const requested = (opts.backend ?? (process.env.ALTCLIP_BACKEND as BackendName | undefined) ?? 'auto') as BackendName | 'auto';
  if (requested !== 'auto' && !BACKEND_ORDER.includes(requested)) {
    throw new Error(`unknown backend '${requested}' (choose one of: auto, ${BACKEND_ORDER.join(', ')})`);
  }
  const candidates = requested === 'auto' ? BACKEND_ORDER : [requested];
  const skipped: BackendChoice['skipped'] = [];
  for (const name of candidates) {
    try {
      await tryRegister(name, opts.threads);
      const ok = await tf.setBackend(name);
      if (!ok) throw new Error(`tf.setBackend('${name}') failed`);
      await tf.ready();
      registerGradients();
      if (opts.patchKernels === false) removePatches();
      else applyPatches(KERNEL_PATCHES);
      const reason =
        requested === 'auto'
          ? skipped.length
            ? `best available (${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')})`
            : 'best available backend'
          : `requested by ${opts.backend ? '--backend' : 'ALTCLIP_BACKEND'}`;
      current = { name, reason, skipped };
      return current;
    } catch (e) {
      const why = (e as Error).message.split('\n')[0];
      if (requested !== 'auto') throw new Error(`backend '${name}' was requested but is not available: ${why}`);
      skipped.push({ name, why });
    }
  }
  throw new Error(`no TensorFlow.js backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')}`);
}

export function currentBackend(): BackendChoice | undefined {
  return current;
}

/** Registers the kernel patches for every loaded backend (idempotent; setupBackend does this by default). */
export function patchKernels(): void {
  applyPatches(KERNEL_PATCHES);
}

/** Restores the stock tfjs kernels (all, or only `kernelNames`), e.g. to measure what the patches buy. */
export function unpatchKernels(kernelNames?: string[]): void {
  removePatches(kernelNames);
}
