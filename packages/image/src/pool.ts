import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { getMaxImagePixels, loadImage } from './decode';
import { readImageFileSync } from './read-file';
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

/** What a task resolves to: the worker's reply without its id. */
export type TaskResult = Omit<PoolReply, 'id'>;

/**
 * A message to the worker: several files (one message per file cost more than decoding a small image), and where
 * to write each tensor when the output size is known.
 */
export interface PoolTask {
  id: number;
  /** Files to read, or the names of `bytes` (for messages). */
  paths: string[];
  /** Encoded images already in memory (WebDataset members): decoded instead of reading `paths`. */
  bytes?: Uint8Array[];
  opts: PreprocessOptions;
  applyExif: boolean;
  /** The pixel limit of the main thread (setMaxImagePixels), which workers do not share. */
  maxPixels: number;
}

/** One file's result; `data` is only sent back when the tensor is not in the reply's `out`. */
export type FileResult = { width: number; height: number; data?: Float32Array } | { error: string };

/**
 * The worker's answer to a task: one result per path, in order, and (output size known) the task's tensors in one
 * array, image k at k * 3 * H * W. The array is the worker's own, transferred: memory shared with a worker (a
 * SharedArrayBuffer per batch) stays alive until that worker's next garbage collection, which its small heap makes
 * rare; on a long run those held batches were most of the resident memory's growth and swings.
 */
export interface PoolReply {
  id: number;
  results: FileResult[];
  out?: Float32Array;
}

/**
 * Decodes and preprocesses one file on the current thread (what each worker runs). Writes into `out` at `offset`
 * when given and the size fits (`expected` elements), else returns a new array. `syncRead`: read the file with one
 * blocking call (workers: fs.promises.readFile costs four thread-pool round trips, more than decoding a small file).
 */
export async function preprocessFile(
  file: string, opts: PreprocessOptions, applyExif = false, out?: Float32Array, offset = 0, expected = -1, maxPixels?: number, syncRead = false,
  bytes?: Uint8Array,
): Promise<{ width: number; height: number; data?: Float32Array }> {
  const img = bytes
    ? await loadImage(bytes, { applyExif, maxPixels, name: file })
    : syncRead
      ? await loadImage(readImageFileSync(file, maxPixels ?? getMaxImagePixels()), { applyExif, maxPixels, name: file })
      : await loadImage(file, { applyExif, maxPixels });
  const crop = resizeAndCrop(img, opts);
  const n = 3 * crop.width * crop.height;
  if (out && n === expected) {
    normalizeInto(crop, opts, out, offset);
    return { width: crop.width, height: crop.height };
  }
  const data = new Float32Array(n);
  normalizeInto(crop, opts, data);
  return { width: crop.width, height: crop.height, data };
}

/** Output [H, W] known before decoding (center crop on), so workers can write straight into the batch. */
export function fixedDims(o: PreprocessOptions): [number, number] | undefined {
  if (o.doCenterCrop === false) return undefined;
  const c = o.cropSize ?? o.size ?? 224;
  return typeof c === 'number' ? [c, c] : [c.height, c.width];
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
  private pending = new Map<number, { resolve: (r: TaskResult) => void; worker: number; files: number }>();
  private queue: { task: PoolTask; resolve: (r: TaskResult) => void }[] = [];
  private nextId = 0;

  private closed = false;

  /** `depth`: tasks per worker at once, so one decodes (libuv thread) while another is resampled (JS thread). */
  constructor(readonly threads: number, private readonly script: string, private readonly depth = 2) {
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

  /** Preprocesses `files` (or `bytes`, named by `files`) on one worker: one result per file, in order, and their tensors (see PoolReply). */
  run(files: string[], opts: PreprocessOptions, applyExif: boolean, bytes?: Uint8Array[]): Promise<TaskResult> {
    return new Promise((resolve) => {
      this.queue.push({ task: { id: this.nextId++, paths: files, bytes, opts, applyExif, maxPixels: getMaxImagePixels() }, resolve });
      this.pump();
    });
  }

  private pump(): void {
    for (let i = 0; i < this.workers.length && this.queue.length; i++) {
      while (this.inflight[i] < this.depth && this.queue.length) {
        const { task, resolve } = this.queue.shift()!;
        this.pending.set(task.id, { resolve, worker: i, files: task.paths.length });
        if (this.inflight[i]++ === 0) this.workers[i].ref();
        // Encoded images move to the worker (each in its own buffer, see preprocessBuffers) instead of being copied.
        this.workers[i].postMessage(task, task.bytes?.map((b) => b.buffer as ArrayBuffer) ?? []);
      }
    }
  }

  private done(r: PoolReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (--this.inflight[p.worker] === 0) this.workers[p.worker].unref();
    p.resolve({ results: r.results, out: r.out });
    this.pump();
    if (this.retiring && this.pending.size === 0 && this.queue.length === 0) void this.close();
  }

  private retiring = false;

  /** Closes the pool once the tasks already given to it are done. */
  retire(): void {
    this.retiring = true;
    if (this.pending.size === 0 && this.queue.length === 0) void this.close();
  }

  /** A worker died (native crash, out of memory): fail its tasks, start a replacement, carry on. */
  private fail(i: number, w: Worker, e: Error): void {
    if (this.closed || this.workers[i] !== w) return;
    this.workers[i] = this.spawn(i);
    this.inflight[i] = 0;
    for (const [id, p] of [...this.pending]) {
      if (p.worker !== i) continue;
      this.pending.delete(id);
      p.resolve({ results: Array.from({ length: p.files }, () => ({ error: `preprocessing worker crashed: ${e.message}` })) });
    }
    this.pump();
  }

  /** Stops the workers now; tasks still queued or running resolve as errors. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closed = (n: number) => ({ results: Array.from({ length: n }, () => ({ error: 'preprocessing pool closed' })) });
    for (const p of this.pending.values()) p.resolve(closed(p.files));
    for (const q of this.queue) q.resolve(closed(q.task.paths.length));
    this.pending.clear();
    this.queue = [];
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

let cpus: number | undefined;
/** os.cpus() parses /proc/cpuinfo (~1 ms), and the loaders ask once per batch. */
function cpuCount(): number {
  return (cpus ??= os.cpus().length);
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
  shared?.retire(); // a concurrent caller may still be waiting on it
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
  return preprocessItems(paths, undefined, opts, po);
}

/**
 * preprocessFiles for encoded images in memory (WebDataset members): `names` label them in results and errors. Each
 * image is copied into a buffer of its own and moved to a worker (a view into a larger read buffer would clone all of it).
 */
export async function preprocessBuffers(
  items: { name: string; data: Uint8Array }[],
  opts: PreprocessOptions | ImageProcessor = {},
  po: PreprocessFilesOptions = {},
): Promise<PreprocessFilesResult> {
  return preprocessItems(items.map((i) => i.name), items.map((i) => i.data), opts, po);
}

async function preprocessItems(
  paths: string[],
  bytes: Uint8Array[] | undefined,
  opts: PreprocessOptions | ImageProcessor,
  po: PreprocessFilesOptions,
): Promise<PreprocessFilesResult> {
  const options = opts instanceof ImageProcessor ? opts.options : opts;
  const threads = po.threads ?? cpuCount();
  const pool = threads > 0 ? sharedPool(threads) : undefined;
  const dims = fixedDims(options);
  const per = dims ? 3 * dims[0] * dims[1] : 0;
  const batch = dims ? new Float32Array(per * paths.length) : undefined;
  let done = 0;
  const replies: FileResult[] = new Array(paths.length);
  if (pool) {
    // Contiguous chunks, two per worker: every worker busy, one message per chunk rather than per file.
    const chunk = Math.ceil(paths.length / (2 * pool.threads));
    const runs: Promise<void>[] = [];
    for (let s = 0; s < paths.length; s += chunk) {
      const n = Math.min(chunk, paths.length - s);
      runs.push(
        pool.run(paths.slice(s, s + n), options, po.applyExif ?? false, bytes?.slice(s, s + n).map((b) => new Uint8Array(b))).then(({ results, out }) => {
          // One copy of the chunk's tensors into the batch (a few ms for 32 images at 224 px; decoding takes far longer).
          if (out && batch) batch.set(out.subarray(0, n * per), s * per);
          results.forEach((r, k) => (replies[s + k] = r));
          for (let k = 0; k < results.length; k++) po.onProgress?.(++done, paths.length);
        }),
      );
    }
    await Promise.all(runs);
  } else {
    for (let i = 0; i < paths.length; i++) {
      replies[i] = await preprocessFile(paths[i], options, po.applyExif, batch, i * per, per, undefined, false, bytes?.[i]).catch((e: Error) => ({ error: e.message }));
      po.onProgress?.(++done, paths.length);
    }
  }

  const errors: PreprocessFilesResult['errors'] = [];
  const kept: number[] = [];
  replies.forEach((r, i) => {
    if ('error' in r) {
      const message = r.error.includes(paths[i]) ? r.error : `${paths[i]}: ${r.error}`;
      if ((po.onError ?? 'throw') === 'throw') throw new ImageError(message, paths[i]);
      errors.push({ path: paths[i], message });
    } else kept.push(i);
  });
  const ok = replies.filter((r): r is Exclude<FileResult, { error: string }> => !('error' in r));
  const [h, w] = [ok[0]?.height ?? dims?.[0] ?? 0, ok[0]?.width ?? dims?.[1] ?? 0];
  for (const i of kept) {
    const r = replies[i] as Exclude<FileResult, { error: string }>;
    if (r.width !== w || r.height !== h) {
      throw new ImageError(`preprocessFiles: ${paths[i]} gives ${r.height}x${r.width}, ${paths[kept[0]]} gives ${h}x${w} (enable center crop)`, paths[i]);
    }
  }
  const shape: [number, number, number, number] = [kept.length, 3, h, w];
  const n = 3 * h * w;
  if (batch && errors.length === 0 && ok.every((r) => !r.data)) return { data: batch, shape, paths: [...paths], errors };
  // Unknown size (no center crop) or skipped files: assemble the kept tensors.
  const data = new Float32Array(n * kept.length);
  kept.forEach((i, j) => {
    const r = replies[i] as Exclude<FileResult, { error: string }>;
    data.set(r.data ?? batch!.subarray(i * per, i * per + n), j * n);
  });
  return { data, shape, paths: kept.map((i) => paths[i]), errors };
}
