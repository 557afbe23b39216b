import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs-backend-wasm 4.22 ships a threaded-SIMD build (XNNPACK on a pthreadpool) but never uses it in Node:
 *  1. its WASM_HAS_MULTITHREAD_SUPPORT flag is hard-wired to false when IS_NODE;
 *  2. it hands Emscripten the pthread worker script and the main script as Blobs, and Node's worker_threads
 *     accept only file paths (ERR_WORKER_PATH), while the worker's importScripts reads files;
 *  3. the C++ side caps the pool at emscripten_num_logical_cores() / 2 (it assumes hyper-threading), so a
 *     2-core machine gets 1 thread whatever setThreadsCount asks.
 * prepareThreadedWasm() works around all three for the duration of the wasm backend's initialisation: it
 * turns the flag on, writes the worker script (shipped inside the package as a string) to a file, maps the
 * Blob URLs to files, and reports 2 x `threads` cores to the C++ cap. Everything is restored afterwards.
 */

export interface ThreadedInit {
  /** Undo the temporary patches (call when tf.setBackend('wasm') has settled). */
  restore(): void;
}

const wasmOutDir = () => path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');

/** The pthread worker script as a file (written once per tfjs version, atomically). */
function workerScriptFile(): string {
  const version: string = require('@tensorflow/tfjs-backend-wasm/package.json').version;
  const file = path.join(os.tmpdir(), `altclip-tfjs-backend-wasm-${version}-threaded-simd.worker.js`);
  if (!fs.existsSync(file)) {
    const { wasmWorkerContents } = require(path.join(wasmOutDir(), 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
    // The string holds "\n" escapes that must stay escapes inside the script's string literals (as tfjs does).
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, wasmWorkerContents.replace(/\n/g, '\\n'));
    fs.renameSync(tmp, file);
  }
  return file;
}

export function prepareThreadedWasm(threads: number): ThreadedInit {
  const wasm = require('@tensorflow/tfjs-backend-wasm') as { setThreadsCount(n: number): void };
  const workerFile = workerScriptFile();
  const mainScript = path.join(wasmOutDir(), 'tfjs-backend-wasm-threaded-simd.js');
  if (!fs.existsSync(mainScript)) throw new Error(`threaded wasm build not found: ${mainScript}`);

  const { Worker } = require('worker_threads') as typeof import('worker_threads');
  const origCreate = URL.createObjectURL;
  const origPost = Worker.prototype.postMessage;
  // The module object itself (what Emscripten's require("os") sees), not the TS namespace's read-only view.
  const nodeOs = require('os') as { cpus: typeof os.cpus };
  const origCpus = nodeOs.cpus;

  URL.createObjectURL = (obj: Blob) => (obj instanceof Blob && obj.type === 'application/javascript' ? workerFile : origCreate(obj));
  Worker.prototype.postMessage = function (this: InstanceType<typeof Worker>, msg: unknown, ...rest: unknown[]) {
    const m = msg as { cmd?: string; urlOrBlob?: unknown };
    // The worker evaluates the main script with importScripts(path): give it the file instead of the Blob.
    if (m && m.cmd === 'load' && typeof m.urlOrBlob !== 'string') msg = { ...m, urlOrBlob: mainScript };
    return (origPost as (...a: unknown[]) => void).call(this, msg, ...rest);
  } as typeof origPost;
  nodeOs.cpus = () => {
    const c = origCpus.call(nodeOs);
    return Array.from({ length: 2 * threads }, (_, i) => c[i % c.length]);
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);

  return {
    restore() {
      URL.createObjectURL = origCreate;
      Worker.prototype.postMessage = origPost;
      nodeOs.cpus = origCpus;
    },
  };
}

/** After a failed threaded start: back to the single-threaded SIMD build. */
export function disableThreadedWasm(): void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  (require('@tensorflow/tfjs-backend-wasm') as { setThreadsCount(n: number): void }).setThreadsCount(1);
}

/**
 * Emscripten keeps a Node worker ref'd while it runs a pthread, and the pool's threads live forever, so a
 * process that used threaded wasm would never exit by itself. The pool threads only wait for work from the
 * main thread, so unref'ing them is safe: they end with the process.
 */
export function unrefWasmThreads(): void {
  // Emscripten's pthread pool is not in tfjs-backend-wasm's typings; every member is optional, so a build without it is fine.
  type Workers = Array<{ unref?(): void }>;
  const be = tf.findBackend('wasm') as (tf.KernelBackend & { wasm?: { PThread?: { runningWorkers?: Workers; unusedWorkers?: Workers } } }) | null;
  const pt = be?.wasm?.PThread;
  for (const w of [...(pt?.runningWorkers ?? []), ...(pt?.unusedWorkers ?? [])]) w.unref?.();
}
