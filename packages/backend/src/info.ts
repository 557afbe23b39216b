import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import { backendFields } from './fields';
import { currentBackend, BackendChoice, wasmStartInfo } from './setup';
import { appliedPatches } from './kernels';
import { registerGradients } from './gradients';
import { NativeArenaInfo, NativeInfo, nativeArenaInfo, nativeInfo } from './native';
import { nativeStatus } from '@altclip/native';
import { TensorflowInfo, tensorflowInfo } from './tensorflow';

export interface BackendInfo {
  backend: string | null;
  reason: string;
  skipped: BackendChoice['skipped'];
  versions: Record<string, string>;
  /** Present when the wasm backend is loaded. */
  wasm?: { simd: boolean; threads: number; multithreadBuild: boolean; heapMiB: number; note: string };
  threads: { cpus: number; backend: number | null };
  kernelsPatched: Array<{ backend: string; kernel: string; what: string }>;
  gradientsRegistered: number;
  /** The optional @altclip/native fast path (native.ts). */
  native: NativeInfo;
  /** tfjs-node(-gpu)'s TensorFlow (version, where the library came from, CPU or GPU), once it is loaded. */
  tensorflow?: TensorflowInfo;
  /** The `native` backend's memory, when it is the current backend. */
  arena?: NativeArenaInfo;
  memory: { rssMiB: number; jsHeapMiB: number; tfTensors: number; tfMiB: number; totalGiB: number; freeGiB: number };
}

function pkgVersion(name: string): string | undefined {
  try {
    return require(`${name}/package.json`).version as string;
  } catch {
    return undefined;
  }
}

/** A flag's value if it has been evaluated (the wasm flags are async and only known after init). */
function flag(name: string): boolean | undefined {
  try {
    return tf.env().getBool(name);
  } catch {
    return undefined;
  }
}

const mib = (n: number) => Math.round(n / 2 ** 20);

function nativeThreads(): number | null {
  return nativeStatus().threads ?? null;
}

/** The current backend's thread count, where it has one we can read. */
function backendThreads(name: string | undefined, wasm: BackendInfo['wasm'], tensorflow: TensorflowInfo | undefined): number | null {
  if (name === 'wasm') return wasm?.threads ?? null;
  if (name === 'cpu') return 1;
  if (name === 'native') return nativeThreads();
  if (name === 'tensorflow') return tensorflow?.threads ?? null;
  return null;
}

/** What `altclip info` prints: the chosen backend and why, versions, wasm SIMD/threads, kernel patches, memory. */
export function backendInfo(): BackendInfo {
  const choice = currentBackend();
  const versions: Record<string, string> = { node: process.versions.node };
  for (const p of ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    const v = pkgVersion(p);
    if (v) versions[p.replace('@tensorflow/', '')] = v;
  }
  // The TensorFlow under tfjs-node: 2.9.1 from npm's download, or the wheel's version from npm run setup:tensorflow.
  const tensorflow = tensorflowInfo();
  if (tensorflow) versions.tensorflow = `${tensorflow.tensorflow} (${tensorflow.library}; ${tensorflow.device})`;

  let wasm: BackendInfo['wasm'];
  const wasmBackend = backendFields<{ wasm: { HEAPU8: Uint8Array } }>(tf.findBackend('wasm'));
  if (wasmBackend?.wasm) {
    const { getThreadsCount } = require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number };
    const multithreadBuild = 'PThread' in wasmBackend.wasm;
    const start = wasmStartInfo();
    wasm = {
      simd: flag('WASM_HAS_SIMD_SUPPORT') === true,
      threads: getThreadsCount(),
      multithreadBuild,
      heapMiB: mib(wasmBackend.wasm.HEAPU8.length),
      note: multithreadBuild
        ? `threaded SIMD build (${start?.requestedThreads ?? '?'} thread(s) requested; ALTCLIP_WASM_THREADS sets it)`
        : `single-threaded SIMD build: ${start?.note ?? 'started outside setupBackend'}`,
    };
  }

  const mem = process.memoryUsage();
  const tm = tf.memory();
  return {
    backend: choice?.name ?? null,
    reason: choice?.reason ?? 'setupBackend() has not been called',
    skipped: choice?.skipped ?? [],
    versions,
    wasm,
    threads: { cpus: os.cpus().length, backend: backendThreads(choice?.name, wasm, tensorflow) },
    kernelsPatched: appliedPatches().map(({ backend, kernel, what }) => ({ backend, kernel, what })),
    gradientsRegistered: registerGradients(),
    native: nativeInfo(),
    tensorflow,
    arena: nativeArenaInfo(),
    memory: {
      rssMiB: mib(mem.rss),
      jsHeapMiB: mib(mem.heapUsed),
      tfTensors: tm.numTensors,
      tfMiB: mib(tm.numBytes),
      totalGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
      freeGiB: +(os.freemem() / 2 ** 30).toFixed(1),
    },
  };
}
