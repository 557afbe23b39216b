import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { loadImage } from './decode';
import { normalizeInto, PreprocessOptions, resizeAndCrop } from './preprocess';
import { ImageProcessor } from './processor';
import { ImageError } from './types';

export interface PreprocessFilesOptions {
  /** Worker threads (default: number of CPUs). 0 runs everything on the calling thread. */
  threads?: number;
  /** 'throw' (default) rejects on the first bad image; 'skip' leaves it out and lists it in `errors`. */
  onError?: 'throw' | 'skip';
  applyExif?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface PreprocessFilesResult {
  /** NCHW float32, images in input order (skipped ones left out). */
  data: Float32Array;
  shape: [number, number, number, number];
  /** The paths that made it into `data`, in order. */
  paths: string[];
  errors: { path: string; message: string }[];
}

/** A message to the worker: one file. */
export interface PoolTask {
  id: number;
  path: string;
  opts: PreprocessOptions;
  applyExif: boolean;
}

export type PoolReply = { id: number; data: Float32Array; width: number; height: number } | { id: number; error: string };

/** Decodes and preprocesses one file on the current thread (what each worker runs). */
export async function preprocessFile(file: string, opts: PreprocessOptions, applyExif = false): Promise<{ data: Float32Array; width: number; height: number }> {
  const img = await loadImage(file, { applyExif });
  const crop = resizeAndCrop(img, opts);
  const data = new Float32Array(3 * crop.width * crop.height);
  normalizeInto(crop, opts, data);
  return { data, width: crop.width, height: crop.height };
}

function workerScript(): string | undefined {
  // From dist/ the compiled worker sits beside this file; from src/ (ts-jest/swc) use the built copy.
  for (const f of [path.join(__dirname, 'pool-worker.js'), path.join(__dirname, '..', 'dist', 'pool-worker.js')]) {
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

/** A persistent pool of preprocessing workers; workers do not keep the process alive while idle. */
export class PreprocessPool {
  private workers: Worker[] = [];
  private inflight: number[] = [];
  private pending = new Map<number, { resolve: (r: PoolReply) => void; worker: number }>();
  private queue: { task: PoolTask; resolve: (r: PoolReply) => void }[] = [];
  private nextId = 0;
  /** Tasks per worker at once: one decoding in libuv while another is resampled on the JS thread. */
  private readonly depth = 2;

  private closed = false;

  constructor(readonly threads: number, private readonly script: string) {
    for (let i = 0; i < threads; i++) {
      this.workers.push(this.spawn(i));
      this.inflight.push(0);
    }
  }

  private spawn(i: number): Worker {
    const w = new Worker(this.script);
    w.on('message', (r: PoolReply) => this.done(r));
    w.on('error', (e) => this.fail(i, w, e));
    w.on('exit', (code) => this.fail(i, w, new Error(`exited with code ${code}`)));
    w.unref();
    return w;
  }

  run(file: string, opts: PreprocessOptions, applyExif: boolean): Promise<PoolReply> {
    return new Promise((resolve) => {
      this.queue.push({ task: { id: this.nextId++, path: file, opts, applyExif }, resolve });
      this.pump();
    });
  }

  private pump(): void {
    for (let i = 0; i < this.workers.length && this.queue.length; i++) {
      while (this.inflight[i] < this.depth && this.queue.length) {
        const { task, resolve } = this.queue.shift()!;
        this.pending.set(task.id, { resolve, worker: i });
        if (this.inflight[i]++ === 0) this.workers[i].ref();
        this.workers[i].postMessage(task);
      }
    }
  }

  private done(r: PoolReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (--this.inflight[p.worker] === 0) this.workers[p.worker].unref();
    p.resolve(r);
    this.pump();
  }

  /** A worker died (native crash, out of memory): fail its tasks, start a replacement, carry on. */
  private fail(i: number, w: Worker, e: Error): void {
    if (this.closed || this.workers[i] !== w) return;
    this.workers[i] = this.spawn(i);
    this.inflight[i] = 0;
    for (const [id, p] of [...this.pending]) {
      if (p.worker !== i) continue;
      this.pending.delete(id);
      p.resolve({ id, error: `preprocessing worker crashed: ${e.message}` });
    }
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

let shared: PreprocessPool | undefined;
let warned = false;

/** The process-wide pool (created on first use, resized if a different thread count is asked for). */
export function sharedPool(threads: number): PreprocessPool | undefined {
  if (shared && shared.threads === threads) return shared;
  const script = workerScript();
  if (!script) {
    if (!warned) process.stderr.write('@altclip/image: dist/pool-worker.js not built (run `npx tsc -b`); preprocessing on the main thread\n');
    warned = true;
    return undefined;
  }
  void shared?.close();
  shared = new PreprocessPool(threads, script);
  return shared;
}

/** Stops the shared worker pool. */
export async function closeSharedPool(): Promise<void> {
  await shared?.close();
  shared = undefined;
}

/**
 * Decode + preprocess many files into one NCHW float32 batch, on `threads` worker threads. Used by the data
 * loaders and the throughput benchmark.
 */
export async function preprocessFiles(
  paths: string[],
  opts: PreprocessOptions | ImageProcessor = {},
  po: PreprocessFilesOptions = {},
): Promise<PreprocessFilesResult> {
  const options = opts instanceof ImageProcessor ? opts.options : opts;
  const threads = po.threads ?? os.cpus().length;
  const pool = threads > 0 ? sharedPool(threads) : undefined;
  let done = 0;
  const one = async (p: string): Promise<PoolReply> => {
    let r: PoolReply;
    if (pool) r = await pool.run(p, options, po.applyExif ?? false);
    else r = await preprocessFile(p, options, po.applyExif).then((x) => ({ id: 0, ...x }), (e: Error) => ({ id: 0, error: e.message }));
    po.onProgress?.(++done, paths.length);
    return r;
  };
  const replies = pool ? await Promise.all(paths.map(one)) : [];
  if (!pool) for (const p of paths) replies.push(await one(p));
  const errors: PreprocessFilesResult['errors'] = [];
  const kept: { path: string; data: Float32Array; width: number; height: number }[] = [];
  replies.forEach((r, i) => {
    if ('error' in r) {
      const message = r.error.includes(paths[i]) ? r.error : `${paths[i]}: ${r.error}`;
      if ((po.onError ?? 'throw') === 'throw') throw new ImageError(message, paths[i]);
      errors.push({ path: paths[i], message });
    } else kept.push({ path: paths[i], ...r });
  });
  const h = kept[0]?.height ?? 0;
  const w = kept[0]?.width ?? 0;
  const per = 3 * h * w;
  const data = new Float32Array(per * kept.length);
  kept.forEach((k, i) => {
    if (k.width !== w || k.height !== h) throw new Error(`preprocessFiles: ${k.path} gives ${k.height}x${k.width}, ${kept[0].path} gives ${h}x${w} (enable center crop)`);
    data.set(k.data, i * per);
  });
  return { data, shape: [kept.length, 3, h, w], paths: kept.map((k) => k.path), errors };
}
