import { hashInts, mulberry32 } from '@altclip/backend';
import { imageFromPixels, DecodedImage, ImageProcessor, preprocessBuffers, preprocessFiles, PreprocessFilesResult } from '@altclip/image';
import type { ClassificationDataset, RawImage } from './types';

/**
 * The sample order of epoch `epoch`: a permutation of 0..n-1 (Fisher-Yates), a pure function of (n, seed, epoch), so
 * a resumed run (on any number of processes) continues the same order. The one order every sampler uses.
 */
export function epochPermutation(n: number, seed: number, epoch: number, shuffle = true): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  if (!shuffle) return idx;
  const rnd = mulberry32(hashInts(seed, epoch, 0x5eed));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

/** epochPermutation as an Int32Array. */
export function shuffledIndices(n: number, seed: number, epoch = 0): Int32Array {
  return Int32Array.from(epochPermutation(n, seed, epoch));
}

/** Where a sampler stands: enough to resume mid-epoch exactly (store it in the checkpoint). */
export interface SamplerState {
  seed: number;
  size: number;
  epoch: number;
  /** Items of this epoch already handed out. */
  position: number;
}

export interface SamplerOptions {
  batchSize: number;
  seed?: number;
  shuffle?: boolean;
  /** Drop a last incomplete batch (default false, as FlagAI's loader). */
  dropLast?: boolean;
}

export interface Batch {
  indices: Int32Array;
  epoch: number;
  /** Index of this batch within its epoch. */
  step: number;
}

export interface BatchSampler {
  readonly batchesPerEpoch: number;
  /** The next batch, rolling into the next epoch (reshuffled) at the end of one. */
  next(): Batch;
  /** The state after the last batch returned. */
  state(): SamplerState;
}

/**
 * Deterministic epoch-wise batch sampler. Each epoch's order is shuffledIndices(size, seed, epoch), so
 * createSampler(size, opts, savedState) continues exactly where a run stopped.
 */
export function createSampler(size: number, opts: SamplerOptions, resume?: SamplerState): BatchSampler {
  if (size <= 0) throw new Error('createSampler: empty dataset');
  if (!(opts.batchSize >= 1)) throw new Error(`createSampler: batchSize must be >= 1, got ${opts.batchSize}`);
  const seed = opts.seed ?? 0;
  const shuffle = opts.shuffle ?? true;
  const bs = Math.floor(opts.batchSize);
  const perEpoch = opts.dropLast ? Math.floor(size / bs) : Math.ceil(size / bs);
  if (perEpoch === 0) throw new Error(`createSampler: batch size ${bs} > dataset size ${size} with dropLast`);
  if (resume && (resume.size !== size || resume.seed !== seed)) {
    throw new Error(`cannot resume data position: saved for ${resume.size} items / seed ${resume.seed}, now ${size} items / seed ${seed}`);
  }
  let epoch = resume?.epoch ?? 0;
  let position = resume?.position ?? 0;
  let order: Int32Array | null = null;
  let orderEpoch = -1;
  const orderFor = (e: number) => {
    if (orderEpoch !== e) {
      order = shuffle ? shuffledIndices(size, seed, e) : Int32Array.from({ length: size }, (_, i) => i);
      orderEpoch = e;
    }
    return order!;
  };
  return {
    batchesPerEpoch: perEpoch,
    next(): Batch {
      const limit = opts.dropLast ? perEpoch * bs : size;
      if (position >= limit) {
        epoch++;
        position = 0;
      }
      const ord = orderFor(epoch);
      const end = Math.min(position + bs, limit);
      const b = { indices: ord.slice(position, end), epoch, step: Math.floor(position / bs) };
      position = end;
      return b;
    },
    state: () => ({ seed, size, epoch, position }),
  };
}

/**
 * Runs load() for up to `depth` upcoming items while the consumer works on the current one, yielding results in
 * order. With async loaders (file reads, sharp, worker threads) this overlaps loading with compute.
 */
export async function* prefetch<I, T>(source: Iterable<I> | AsyncIterable<I>, load: (item: I) => Promise<T>, depth = 2): AsyncGenerator<T> {
  const it = (Symbol.asyncIterator in (source as object) ? (source as AsyncIterable<I>)[Symbol.asyncIterator]() : (source as Iterable<I>)[Symbol.iterator]()) as
    | Iterator<I>
    | AsyncIterator<I>;
  const queue: Promise<T>[] = [];
  let done = false;
  const fill = async () => {
    while (!done && queue.length < Math.max(1, depth)) {
      const r = await it.next();
      if (r.done) {
        done = true;
        break;
      }
      const p = load(r.value);
      p.catch(() => undefined); // surfaced when consumed
      queue.push(p);
    }
  };
  await fill();
  while (queue.length > 0) {
    const value = await queue.shift()!;
    await fill(); // refill while the consumer works on `value`: at most `depth` loads in flight
    yield value;
  }
}

/** Pixel batch in NCHW float32, ready for getImageFeatures. */
export interface PixelBatch {
  data: Float32Array;
  shape: [number, number, number, number];
  /** Dataset indices of the rows, in order (failed images left out). */
  indices: number[];
  failed: { index: number; error: string }[];
}

/** Turns a list of dataset indices into a preprocessed pixel batch. */
export type BatchLoader = (indices: ArrayLike<number>) => Promise<PixelBatch>;

/**
 * A loader that decodes images with ds.getImage and preprocesses them with `preprocess` (RawImage -> CHW
 * Float32Array of 3*size*size). Unreadable images are left out and reported in `failed` when skipErrors is set,
 * otherwise the error (naming the file) is thrown.
 */
export function imageBatchLoader(
  ds: Pick<ClassificationDataset, 'getImage'>,
  preprocess: (img: RawImage) => Float32Array | Promise<Float32Array>,
  size: number,
  opts: { skipErrors?: boolean } = {},
): BatchLoader {
  return async (indices) => {
    const idx = Array.from(indices);
    const results = await Promise.all(
      idx.map(async (i) => {
        try {
          return await preprocess(await ds.getImage(i));
        } catch (e) {
          if (!opts.skipErrors) throw e;
          return e as Error;
        }
      }),
    );
    const per = 3 * size * size;
    const ok = results.filter((r): r is Float32Array => !(r instanceof Error));
    const data = new Float32Array(ok.length * per);
    const kept: number[] = [];
    const failed: PixelBatch['failed'] = [];
    results.forEach((r, k) => {
      if (r instanceof Error) failed.push({ index: idx[k], error: r.message });
      else {
        if (r.length !== per) throw new Error(`preprocess returned ${r.length} values for item ${idx[k]}, expected 3x${size}x${size}`);
        data.set(r, kept.length * per);
        kept.push(idx[k]);
      }
    });
    return { data, shape: [kept.length, 3, size, size], indices: kept, failed };
  };
}

/**
 * A loader for items that are image files: decoding and preprocessing run on @altclip/image's worker pool, so
 * with prefetch() the next batches load while the model runs on this one. Unreadable files are left out and
 * reported when skipErrors is set; otherwise the first error (naming the file) is thrown.
 */
export function fileBatchLoader(pathOf: (i: number) => string, processor: ImageProcessor, opts: { threads?: number; skipErrors?: boolean } = {}): BatchLoader {
  return async (indices) => {
    const idx = Array.from(indices);
    const paths = idx.map((i) => pathOf(i));
    return pixelBatchOf(idx, paths, await preprocessFiles(paths, processor, { threads: opts.threads, onError: opts.skipErrors ? 'skip' : 'throw' }));
  };
}

/** RawImage (mode-less, from a dataset reader) -> what @altclip/image's processor takes. */
function asDecoded(img: RawImage): DecodedImage {
  return 'mode' in img ? (img as DecodedImage) : imageFromPixels(img.data, img.width, img.height, img.channels);
}

/**
 * The pixel source for a dataset: file-backed datasets decode on @altclip/image's worker pool; in-memory pixels
 * (CIFAR-10, IDX) are preprocessed on this thread.
 */
export function datasetLoader(
  ds: Pick<ClassificationDataset, 'getImage' | 'imagePath'>,
  processor: ImageProcessor,
  opts: { skipErrors?: boolean; threads?: number } = {},
): BatchLoader {
  if (ds.imagePath) return fileBatchLoader((i) => ds.imagePath!(i), processor, opts);
  return imageBatchLoader(ds, (img) => processor.process(asDecoded(img)), processor.outputShape[1], opts);
}

/**
 * fileBatchLoader for encoded images in memory (WebDataset members): `itemOf(i)` gives the bytes and a name for
 * messages (e.g. `shard.tar:key.jpg`), decoded on @altclip/image's worker pool.
 */
export function bufferBatchLoader(
  itemOf: (i: number) => { name: string; data: Uint8Array }, processor: ImageProcessor, opts: { threads?: number; skipErrors?: boolean } = {},
): BatchLoader {
  return async (indices) => {
    const idx = Array.from(indices);
    const items = idx.map((i) => itemOf(i));
    const names = items.map((x) => x.name);
    return pixelBatchOf(idx, names, await preprocessBuffers(items, processor, { threads: opts.threads, onError: opts.skipErrors ? 'skip' : 'throw' }));
  };
}

/** A preprocess result as a PixelBatch of dataset indices; the messages of @altclip/image already name the item. */
function pixelBatchOf(idx: number[], names: string[], r: PreprocessFilesResult): PixelBatch {
  const bad = new Map(r.errors.map((e) => [e.path, e.message]));
  const kept = idx.filter((_, k) => !bad.has(names[k]));
  const failed = idx.flatMap((i, k) => {
    const m = bad.get(names[k]);
    return m === undefined ? [] : [{ index: i, error: m.includes(names[k]) ? m : `${names[k]}: ${m}` }];
  });
  return { data: r.data, shape: r.shape, indices: kept, failed };
}

/** Consecutive index ranges [start, end) in batches: the order an evaluation pass uses. */
export function* sequentialBatches(start: number, end: number, batchSize: number): Generator<number[]> {
  // A batch size of 0 would loop forever.
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batch size must be an integer >= 1, got ${batchSize}`);
  for (let i = start; i < end; i += batchSize) {
    const b: number[] = [];
    for (let j = i; j < Math.min(end, i + batchSize); j++) b.push(j);
    yield b;
  }
}
