/**
 * The images of an evaluation pass, whatever holds them: an indexed dataset (CIFAR-10, IDX, an image folder, a
 * retrieval captions file) or a stream of WebDataset shards. Each is an EvalImageSource: pixel batches in data order,
 * each kept row carrying what the evaluation needs of it (a class label, the captions of the image). Only the batches
 * in flight are held, so a pass over any number of images runs in bounded memory.
 */
import type { ImageProcessor } from '@altclip/image';
import { BatchLoader, bufferBatchLoader, datasetLoader, fileBatchLoader, PixelBatch, prefetch, sequentialBatches } from './batching';
import { newReport, ReadReport, skipRow } from './report';
import type { RetrievalDataset } from './retrieval';
import type { Positioned } from './stream';
import type { ClassificationDataset } from './types';
import { imageMemberName, samplePlace, usableSamples, WdsRecord, WdsSample, WdsSampleOptions, webDatasetSource } from './webdataset';

/** A pixel batch (NCHW) whose kept rows (`indices`, positions in the pass) each carry `meta[k]`. */
export interface EvalBatch<M> extends PixelBatch {
  meta: M[];
}

export interface EvalPassOptions {
  /** Image -> CHW float32 at the model's size. */
  processor: ImageProcessor;
  batchSize: number;
  /** Positions [start, start + limit) of the data (default: all). */
  start?: number;
  limit?: number;
  /** Batches decoded ahead while the model runs (default 2). */
  prefetchDepth?: number;
  /** Decode worker threads (default: the CPUs). */
  threads?: number;
  /** Indexed data: unreadable images are left out (listed in `failed`) instead of failing the pass. Streams always skip. */
  skipErrors?: boolean;
}

/** An evaluation's images in a fixed order, as pixel batches with per-row metadata. */
export interface EvalImageSource<M> {
  readonly name: string;
  /** Positions of a full pass (a stream: the sample counts its shards declare). */
  readonly size: number;
  batches(o: EvalPassOptions): AsyncIterable<EvalBatch<M>>;
}

/** Whether a value is an EvalImageSource (rather than a dataset an adapter below turns into one). */
export function isEvalImageSource<M>(x: unknown): x is EvalImageSource<M> {
  return !!x && typeof (x as EvalImageSource<M>).batches === 'function';
}

/** [start, end) of a pass over `size` positions. */
function passRange(size: number, o: EvalPassOptions): [number, number] {
  const start = o.start ?? 0;
  return [start, Math.min(size, o.limit === undefined ? size : start + Math.max(0, o.limit))];
}

/** A classification dataset's images with their labels; `loader` overrides how pixels are made (e.g. a custom pool). */
export function classificationEvalSource(ds: ClassificationDataset, loader?: BatchLoader): EvalImageSource<number> {
  return {
    name: ds.name,
    size: ds.size,
    async *batches(o) {
      const load = loader ?? datasetLoader(ds, o.processor, { skipErrors: o.skipErrors, threads: o.threads });
      const [start, end] = passRange(ds.size, o);
      for await (const b of prefetch(sequentialBatches(start, end, o.batchSize), load, o.prefetchDepth ?? 2)) yield { ...b, meta: b.indices.map((i) => ds.labels[i]) };
    },
  };
}

/** A retrieval set's images (files), each with its captions in the set's order. */
export function retrievalEvalSource(ds: RetrievalDataset): EvalImageSource<string[]> {
  const captions: string[][] = ds.images.map(() => []);
  ds.captions.forEach((c, j) => captions[ds.textToImage[j]].push(c));
  return {
    name: ds.name,
    size: ds.images.length,
    async *batches(o) {
      const load = fileBatchLoader((i) => ds.images[i], o.processor, { threads: o.threads, skipErrors: o.skipErrors });
      const [start, end] = passRange(ds.images.length, o);
      for await (const b of prefetch(sequentialBatches(start, end, o.batchSize), load, o.prefetchDepth ?? 2)) yield { ...b, meta: b.indices.map((i) => captions[i]) };
    },
  };
}

export interface WebDatasetEvalOptions extends WdsSampleOptions {
  /** Classification: labels must be below this (others are skipped as 'class out of range'). */
  classes?: number;
  log?: (line: string) => void;
}

/** A stream record with its position in the pass. */
type Placed = Positioned<WdsRecord> & { index: number };

/** A shard stream's source, with the report of what was skipped (by reason, each named by shard, sample and key). */
export interface WebDatasetEvalSource<M> extends EvalImageSource<M> {
  report: ReadReport;
  shards: number;
}

/**
 * WebDataset shards read once in file order (shards as listed, samples as stored): `batchSize` positions at a time
 * are parsed, their images decoded on the worker pool while the model runs on the batch before. Samples without an
 * image, class or caption, corrupt images and the rest of a truncated shard are skipped, counted and named.
 */
export async function webDatasetEvalSource<M>(spec: string | string[], o: WebDatasetEvalOptions, metaOf: (s: WdsSample) => M): Promise<WebDatasetEvalSource<M>> {
  const src = await webDatasetSource(spec, o);
  const units = src.units;
  const report = newReport(Array.isArray(spec) ? spec.join('::') : spec);
  const size = units.reduce((a, u) => a + u.size, 0);
  // Positions [start, end) of the shards laid end to end, `n` at a time; `index` is the position in the pass.
  async function* chunks(start: number, end: number, n: number): AsyncGenerator<Placed[]> {
    let chunk: Placed[] = [];
    for (let u = 0, first = 0; u < units.length && first < end; first += units[u].size, u++) {
      if (first + units[u].size <= start) continue;
      const from = Math.max(0, start - first);
      const r = await src.open(u, from);
      try {
        for (let k = from; k < units[u].size && first + k < end; k++) {
          const record = await r.next();
          if (record === null) break; // a reader gives exactly its declared size (see shardRecordReader)
          chunk.push({ record, unit: u, offset: k, index: first + k });
          if (chunk.length === n) {
            yield chunk;
            chunk = [];
          }
        }
      } finally {
        await r.close();
      }
    }
    if (chunk.length) yield chunk;
  }
  const decode = async (recs: Placed[], po: EvalPassOptions): Promise<EvalBatch<M>> => {
    const failed: PixelBatch['failed'] = [];
    const kept = usableSamples(recs, units, report, o.classes, (at, message) => failed.push({ index: at.index, error: message }));
    if (kept.length === 0) return { data: new Float32Array(0), shape: [0, ...po.processor.outputShape], indices: [], failed, meta: [] };
    const load = bufferBatchLoader((i) => ({ name: imageMemberName(units, kept[i]), data: kept[i].s.image }), po.processor, { threads: po.threads, skipErrors: true });
    const b = await load(kept.map((_, i) => i));
    for (const f of b.failed) {
      const k = kept[f.index];
      skipRow(report, k.at.offset, 'corrupt image', `${samplePlace(units, k.at, k.s.key)}: ${f.error}`, (row) => failed.push({ index: k.at.index, error: row.reason }));
    }
    report.kept += b.indices.length;
    return { data: b.data, shape: b.shape, indices: b.indices.map((i) => kept[i].at.index), failed, meta: b.indices.map((i) => metaOf(kept[i].s)) };
  };
  return {
    name: report.file,
    size,
    report,
    shards: units.length,
    batches(po) {
      if (!(Number.isInteger(po.batchSize) && po.batchSize >= 1)) throw new Error(`batch size must be an integer >= 1, got ${po.batchSize}`);
      const [start, end] = passRange(size, po);
      return prefetch(chunks(start, end, po.batchSize), (c) => decode(c, po), po.prefetchDepth ?? 2);
    },
  };
}
