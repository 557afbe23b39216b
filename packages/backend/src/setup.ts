import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import { backendFields } from './fields';
import { disableThreadedWasm, prepareThreadedWasm, unrefWasmThreads } from './wasm-threads';
import { KERNEL_PATCHES, applyPatches, removePatches } from './kernels';
import { registerGradients } from './gradients';
import { settingError } from '@altclip/native';
import { disableNativeKernels, enableNativeKernels, registerNativeBackend, tuneProcessMemory } from './native';
import { loadTensorflow } from './tensorflow';

export type BackendName = 'tensorflow' | 'native' | 'wasm' | 'cpu';
/**
 * Best first. `tensorflow` is tfjs-node(-gpu) (TensorFlow's kernels, a GPU with tfjs-node-gpu; see tensorflow.ts);
 * `native` (@altclip/native's backend: tensors in native memory, native kernels) needs the addon built;
 * `wasm` is the portable fast path (4 GiB heap); `cpu` is tfjs's pure-JS reference.
 */
export const BACKEND_ORDER: BackendName[] = ['tensorflow', 'native', 'wasm', 'cpu'];

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
  /**
   * tensorflow: TensorFlow's intra-op threads (unless TF_NUM_INTRAOP_THREADS is set; only before tfjs-node loads).
   * wasm threads (default: ALTCLIP_WASM_THREADS, else one per CPU (1 under jest), at most 8). More than 1 loads tfjs's
   * threaded-SIMD build (see wasm-threads.ts); 1 keeps the single-threaded SIMD build. Fixed at the first
   * wasm initialisation in a process.
   */
  threads?: number;
  /** Register this package's kernel additions/replacements (default true); false keeps stock tfjs kernels. */
  patchKernels?: boolean;
}

let current: BackendChoice | undefined;

function disableBanner(): void {
  const b = backendFields<{ firstUse: boolean }>(); // tfjs-backend-cpu's "install tfjs-node" banner flag
  if (b) b.firstUse = false;
}

async function tryRegister(name: BackendName, threads?: number): Promise<void> {
  switch (name) {
    case 'tensorflow':
      loadTensorflow(threads);
      return;
    case 'native':
      // The native backend copies the cpu kernels (with this package's cpu patches) as its fallbacks.
      require('@tensorflow/tfjs-backend-cpu');
      applyPatches(KERNEL_PATCHES);
      registerNativeBackend();
      return;
    case 'wasm':
      require('@tensorflow/tfjs-backend-wasm');
      return;
    case 'cpu':
      require('@tensorflow/tfjs-backend-cpu');
      return;
  }
}

/**
 * `auto` takes TensorFlow's kernels only on a GPU (tfjs-node-gpu). On CPUs they are slower than `native` (the
 * offline demo: 104.7 s against 33.8 s on the 2-core AVX2 machine, docs/backends.md), and loading tfjs-node costs
 * a second and ~300 MB, so CPU TensorFlow is used only when asked for by name.
 */
function autoTensorflowCheck(): void {
  try {
    require.resolve('@tensorflow/tfjs-node-gpu');
  } catch {
    throw new Error('no GPU package (@tensorflow/tfjs-node-gpu); on CPUs native is faster, --backend tensorflow uses tfjs-node anyway');
  }
}

/** How the wasm backend was started (for backendInfo). */
export interface WasmStart {
  requestedThreads: number;
  threaded: boolean;
  /** Why the threaded build is not in use, when it is not. */
  note?: string;
}
let wasmStart: WasmStart | undefined;

export function wasmStartInfo(): WasmStart | undefined {
  return wasmStart;
}

function wantedWasmThreads(threads?: number): number {
  const env = process.env.ALTCLIP_WASM_THREADS;
  // Under jest every test file re-instantiates tfjs, and pthread workers outlive their file: stay single-threaded
  // there unless asked (tests check results, not speed).
  const dflt = process.env.JEST_WORKER_ID ? 1 : os.availableParallelism(); // the CPUs this process may use (one per rank under mpirun)
  const n = threads ?? (env ? Number(env) : dflt);
  if (!Number.isInteger(n) || n < 1) {
    throw settingError(`wasm threads must be a positive integer, got '${threads ?? env}' (threads option / ALTCLIP_WASM_THREADS)`);
  }
  return Math.min(n, 8); // tfjs pre-creates 8 pthread workers; the pool never exceeds them
}

/** tf.setBackend('wasm'), trying the threaded build first when more than one thread is wanted. */
async function initWasm(threads?: number): Promise<boolean> {
  if (tf.findBackend('wasm') != null) return tf.setBackend('wasm'); // already initialised in this process
  const want = wantedWasmThreads(threads);
  if (want > 1) {
    let prep: ReturnType<typeof prepareThreadedWasm> | undefined;
    let why = 'tf.setBackend returned false';
    try {
      prep = prepareThreadedWasm(want);
      const ok = await tf.setBackend('wasm');
      prep.restore();
      if (ok) {
        unrefWasmThreads();
        wasmStart = { requestedThreads: want, threaded: true };
        return true;
      }
    } catch (e) {
      prep?.restore();
      why = (e as Error).message.split('\n')[0];
    }
    disableThreadedWasm();
    wasmStart = { requestedThreads: want, threaded: false, note: `threaded build failed to start (${why}); using the single-threaded SIMD build` };
  } else {
    wasmStart = { requestedThreads: 1, threaded: false, note: '1 thread requested' };
  }
  return tf.setBackend('wasm');
}

/**
 * Picks and initialises the TensorFlow.js backend: tensorflow on a GPU > native > wasm > cpu.
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
      if (requested === 'auto' && name === 'tensorflow') autoTensorflowCheck();
      await tryRegister(name, opts.threads);
      const ok = name === 'wasm' ? await initWasm(opts.threads) : await tf.setBackend(name);
      if (!ok) throw new Error(`tf.setBackend('${name}') failed`);
      await tf.ready();
      // tfjs-backend-cpu prints an "install tfjs-node" banner on first use; we already chose (and explain) the backend.
      if (name === 'cpu') disableBanner();
      registerGradients();
      if (opts.patchKernels === false) disableNativeKernels(); // @altclip/native (optional, issue 8): see native.ts
      if (opts.patchKernels === false) removePatches();
      else applyPatches(KERNEL_PATCHES);
      if (name === 'wasm' && opts.patchKernels !== false) enableNativeKernels();
      if (name === 'native') disableBanner();
      tuneProcessMemory();
      // Why each better backend was passed over is in `skipped`, not repeated here.
      const reason = requested === 'auto' ? 'best available' : `requested by ${opts.backend ? '--backend' : 'ALTCLIP_BACKEND'}`;
      current = { name, reason, skipped };
      return current;
    } catch (e) {
      // A wrong setting (ALTCLIP_ARENA_GB, ALTCLIP_WASM_THREADS, ...) fails here rather than picking a slower backend.
      if ((e as Error).name === 'SettingError') throw e;
      const why = (e as Error).message.split('\n')[0];
      if (requested !== 'auto') throw new Error(`backend '${name}' was requested but is not available: ${why}`, { cause: e });
      skipped.push({ name, why });
    }
  }
  throw new Error(`no TensorFlow.js backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')}`);
}

export function currentBackend(): BackendChoice | undefined {
  return current;
}

/**
 * Registers the kernel patches for every loaded backend (idempotent; setupBackend does this by default), then
 * @altclip/native on top unless `{native: false}` (the benchmark's pure TypeScript/wasm run).
 */
export function patchKernels(opts: { native?: boolean } = {}): void {
  applyPatches(KERNEL_PATCHES);
  if (opts.native !== false && tf.findBackend('wasm') != null) enableNativeKernels(); // @altclip/native on top again (issue 8)
}

/** Restores the stock tfjs kernels (all, or only `kernelNames`), e.g. to measure what the patches buy. */
export function unpatchKernels(kernelNames?: string[]): void {
  disableNativeKernels(); // @altclip/native sits on top of the patches: take it off first (issue 8)
  removePatches(kernelNames);
}

/**
 * The backend in one calm line for a command's log: which one runs and, when a preferred one was skipped, where to
 * read why (the reasons are long and read like errors; `altclip info` prints them).
 */
export function backendSummary(c: BackendChoice): string {
  if (c.reason.startsWith('requested')) return `backend: ${c.name} (${c.reason})`;
  if (!c.skipped.length) return `backend: ${c.name}`;
  return `backend: ${c.name} (the best available here; 'altclip info' says why not ${c.skipped.map((s) => s.name).join(' or ')})`;
}
