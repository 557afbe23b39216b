/** `altclip eval` on WebDataset shards: which --data is a shard list, and the sources its samples are read through. */
import * as path from 'path';
import { CIFAR10_BINARY, formatStreamReport, shardClassNames, webDatasetEvalSource, WebDatasetEvalSource } from '@altclip/data';
import { isWebDatasetInput } from '@altclip/train';
import type { OptionsOf } from '@altclip/train';

const log = (l: string) => process.stderr.write(l + '\n');

/**
 * --data as a shard list (--dataset-type webdataset, or auto and the name lists .tar/.tar.gz files or a folder of
 * them), else undefined. A folder CIFAR-10 was downloaded into holds its .tar.gz but is a dataset folder.
 */
export function evalShardSpec(data: string | undefined, type: string | undefined): string | undefined {
  if (type === 'webdataset' && !data) throw new Error("--dataset-type webdataset needs --data <shard list, e.g. 'shards/{00000..00009}.tar'>");
  return isWebDatasetInput(data, type as 'auto' | 'webdataset' | undefined, [CIFAR10_BINARY.folder, 'batches.meta.txt']) ? data : undefined;
}

/** The class names of shards without --classnames: classnames.txt beside them (what `altclip shards` writes), for --lang en. */
export function shardClassNamesOrFail(spec: string, lang: string): string[] {
  const names = lang === 'en' ? shardClassNames(spec) : undefined;
  if (!names) throw new Error(`eval zeroshot on shards: no ${lang} class names; pass --classnames <file>${lang === 'en' ? ' (or put a classnames.txt beside the shards)' : ''}`);
  return names;
}

/** Zero-shot samples of shards: the image and its class (.cls or --label-key); classes >= `classes` are skipped. */
export function zeroShotShards(spec: string, args: OptionsOf<'eval zeroshot'>, classes: number): Promise<WebDatasetEvalSource<number>> {
  return webDatasetEvalSource(spec, { captions: false, labelKey: args.labelKey ?? 'cls', classes, log }, (s) => s.label!);
}

/** Retrieval samples of shards: the image and its caption (--caption-key / --caption-lang, default .txt). */
export function retrievalShards(spec: string, args: OptionsOf<'eval retrieval'>): Promise<WebDatasetEvalSource<string[]>> {
  return webDatasetEvalSource(spec, { captionKey: args.captionKey, captionLang: args.captionLang, log }, (s) => [s.caption!]);
}

/** Prints what a shard pass skipped (by reason, with examples naming shard, sample and key). */
export function reportShards(source: WebDatasetEvalSource<unknown> | undefined): void {
  if (source) log(`webdataset: ${source.shards} shard(s); ${formatStreamReport(source.report)}`);
}

/** --data as written in the results: each `::` part resolved. */
export function resolvedData(data: string): string {
  return data.split('::').map((p) => path.resolve(p.trim())).join('::');
}
