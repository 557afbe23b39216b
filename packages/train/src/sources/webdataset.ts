import * as fs from 'fs';
import * as path from 'path';
import { isShardFolder, looksLikeShardList, bufferBatchLoader, newReport, Positioned, ReadReport, skipRow, webDatasetSource, WdsRecord, WdsSample, WdsSampleOptions } from '@altclip/data';
import type { ImageProcessor } from '@altclip/image';
import type { ClipLikeModel } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';
import { ClipBatch, clipBatchSource } from '../tasks/clip';
import { recordStreamSource } from './record-stream';
import type { DataSource } from './types';

/** The streaming options every WebDataset stage takes (the CLI's --shuffle-buffer, --train-num-samples, ...). */
export interface StreamOptions {
  /** Samples held for mixing (default 1000; 0: file order). */
  shuffleBuffer?: number;
  /** Samples per epoch across ranks (default: every sample of the shards once). */
  trainNumSamples?: number;
  /** Draw shards with replacement (open_clip's --dataset-resampled; epochs are then trainNumSamples long). */
  datasetResampled?: boolean;
  /** Decode worker threads (default: the CPUs). */
  workers?: number;
}

export const DEFAULT_SHUFFLE_BUFFER = 1000;

export interface WebDatasetClipOptions extends StreamOptions, WdsSampleOptions {
  /** Shard list: `dir/{00000..00099}.tar`, several joined with `::`, globs, a folder of shards. */
  data: string | string[];
  processor: ImageProcessor;
  tokenizer: TextTokenizer;
  maxLength: number;
  model: ClipLikeModel;
  imageFrozen: boolean;
  /** Classification: labels must be below this (others are skipped as 'class out of range'). */
  classes?: number;
  /** The caption of a sample (default: its caption member); finetune builds one from the class label. */
  caption?: (s: WdsSample, at: Positioned<WdsRecord>) => string;
  log?: (line: string) => void;
}

/** Skipped samples, counted by reason, with examples naming shard, sample number and key. */
export interface WebDatasetClipSource {
  source: DataSource<ClipBatch>;
  report: ReadReport;
  shards: number;
}

/**
 * Image-text batches streamed from WebDataset shards: a RankStream over the shards, images decoded on the worker pool,
 * captions tokenised per micro-batch, the image features of a frozen tower computed while loading (as for pairs files).
 * Samples without an image or caption, corrupt images and the rest of a truncated shard are skipped and counted.
 */
export async function webDatasetClipSource(o: WebDatasetClipOptions): Promise<WebDatasetClipSource> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const src = await webDatasetSource(o.data, { ...o, log });
  const report = newReport(Array.isArray(o.data) ? o.data.join('::') : o.data);
  const where = (p: Positioned<unknown>, key?: string) => `${path.basename(src.units[p.unit].name)} sample ${p.offset}${key ? ` (key ${key})` : ''}`;
  const source = recordStreamSource<WdsRecord, ClipBatch>({
    source: src,
    samplesPerEpoch: o.trainNumSamples,
    shuffleBuffer: o.shuffleBuffer ?? DEFAULT_SHUFFLE_BUFFER,
    resampled: o.datasetResampled,
    build: async (recs) => {
      const ok: { s: WdsSample; at: Positioned<WdsRecord> }[] = [];
      for (const r of recs) {
        report.rows++;
        const rec = r.record;
        if ('skip' in rec) skipRow(report, r.offset, rec.skip.replace(/ \(.*$/, ''), `${where(r, rec.key)}: ${rec.skip}`);
        else if (o.classes !== undefined && !(rec.label! < o.classes)) skipRow(report, r.offset, 'class out of range', `${where(r, rec.key)}: class ${rec.label}, ${o.classes} class names`);
        else ok.push({ s: rec, at: r });
      }
      if (ok.length === 0) return null;
      const item = (i: number) => ({ name: `${path.basename(src.units[ok[i].at.unit].name)}:${ok[i].s.key}.${ok[i].s.imageExt}`, data: ok[i].s.image });
      const loader = bufferBatchLoader(item, o.processor, { threads: o.workers, skipErrors: true });
      const batches = clipBatchSource({
        size: ok.length,
        caption: (i) => (o.caption ? o.caption(ok[i].s, ok[i].at) : ok[i].s.caption!),
        loader,
        tokenizer: o.tokenizer,
        maxLength: o.maxLength,
        model: o.model,
        imageFrozen: o.imageFrozen,
        cacheFloats: 0, // indices are local to this micro-batch
        onFailed: (i, err) => skipRow(report, ok[i].at.offset, 'corrupt image', `${where(ok[i].at, ok[i].s.key)}: ${err}`),
      });
      const b = await batches.batch(ok.map((_, i) => i));
      report.kept += ok.length - batches.failed.size;
      return b;
    },
  });
  log(`webdataset: ${src.units.length} shard(s), ${src.units.reduce((a, u) => a + u.size, 0)} samples, ${source.samplesPerEpoch} per epoch, shuffle buffer ${o.shuffleBuffer ?? DEFAULT_SHUFFLE_BUFFER}${o.datasetResampled ? ', shards resampled' : ''}`);
  return { source, report, shards: src.units.length };
}

export type DatasetType = 'auto' | 'webdataset' | 'pairs' | 'stream' | 'memory';

/** Whether `data` is read as WebDataset shards: --dataset-type webdataset, or auto and the name is a shard list / shard folder. */
export function isWebDatasetInput(data: unknown, type: DatasetType | undefined, captionFiles: string[] = []): data is string | string[] {
  if (type === 'webdataset') return true;
  if ((type ?? 'auto') !== 'auto' || !(typeof data === 'string' || Array.isArray(data))) return false;
  const spec = Array.isArray(data) ? data.join('::') : data;
  if (looksLikeShardList(spec)) return true;
  return isShardFolder(spec) && !captionFiles.some((f) => fs.existsSync(path.join(spec, f)));
}
