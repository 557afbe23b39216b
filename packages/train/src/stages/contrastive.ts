import * as path from 'path';
import * as fs from 'fs';
import { loadImage } from '@altclip/image';
import { formatReport, readImageTextPairs, ReadReport, ImageTextPair } from '@altclip/data';
import { datasetLoader } from '@altclip/eval';
import type { TextTokenizer } from '@altclip/tokenizers';
import { BatchSource, TrainConfig, TrainResult } from '../trainer';
import type { DataSource } from '../sources/types';
import { DatasetType, isWebDatasetInput, StreamOptions, webDatasetClipSource } from '../sources/webdataset';
import {
  AnyClipModel, ClipBatch, clipBatchSource, clipStageParts, CommonStageOptions, withDefaults, resolveModel, resolveRunDir, saveFinalModel,
  textMaxLength, trainClipStage, trainConfigOf,
} from './common';

/** Stage 2 (PAPER 5.2, Table 6): lr 2e-6, wd 5e-2, warmup 2000, clip 5.0, batch 1024, image tower frozen. */
export const CONTRASTIVE_DEFAULTS: Partial<TrainConfig> & Record<string, unknown> = {
  seed: 0,
  batchSize: 1024,
  lr: 2e-6,
  betas: [0.99, 0.999],
  eps: 1e-8,
  weightDecay: 0.05,
  warmup: 2000,
  epochs: 1,
  gradClip: 5.0,
  schedule: 'cosine',
  lockImage: true,
};

export interface ContrastiveOptions extends CommonStageOptions, StreamOptions {
  /** 'webdataset' reads `data` as shards; 'auto' (default) when it names .tar/.tar.gz shards or a folder of them. */
  datasetType?: DatasetType;
  /** WebDataset: caption member ('txt' default, 'zh.txt') or 'json:<field>'; captionLang 'zh' means 'zh.txt'. */
  captionKey?: string;
  captionLang?: string;
  /** AltCLIP or CLIP folder, a named config (configs/models), or a loaded model. */
  model: string | AnyClipModel;
  /** Tokenizer folder or instance (default: the model folder's; the shipped CLIP BPE for CLIP configs). */
  tokenizer?: string | TextTokenizer;
  /** Pairs file (CSV/TSV/JSONL) or a folder holding captions.{jsonl,tsv,csv}, or pairs already read. */
  data: string | ImageTextPair[];
  /** Image paths are relative to this folder (default: the data file's folder). */
  imageRoot?: string;
  captionColumn?: string;
  imageColumn?: string;
}

export interface StageResult extends TrainResult {
  runDir: string;
  /** The trained model as a complete folder (weights, config, tokenizer, preprocessor_config.json). */
  finalDir?: string;
  report?: ReadReport;
  failedImages: number;
  /** Stage 1: the teacher-feature cache folder used (or written, with cacheTeacherOnly). */
  teacherCache?: string;
}

const CAPTION_FILES = ['captions.jsonl', 'captions.tsv', 'captions.csv', 'pairs.jsonl', 'pairs.tsv', 'pairs.csv', 'metadata.jsonl'];

function findPairsFile(p: string): string {
  if (!fs.statSync(p).isDirectory()) return p;
  for (const f of CAPTION_FILES) {
    if (fs.existsSync(path.join(p, f))) return path.join(p, f);
  }
  throw new Error(`${p}: a data folder needs a captions file (captions.jsonl|tsv|csv, pairs.*, metadata.jsonl)`);
}

/** `altclip contrastive`: CLIP loss on image-text pairs; image tower frozen unless lockImage is false. */
export async function runContrastive(opts: ContrastiveOptions): Promise<StageResult> {
  const o = withDefaults<ContrastiveOptions>(CONTRASTIVE_DEFAULTS as Partial<ContrastiveOptions>, opts);
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const cfg = trainConfigOf(o as unknown as Record<string, unknown>, 'contrastive');
  const runDir = resolveRunDir(o, 'contrastive');
  let pairs: ImageTextPair[] = [];
  let report: ReadReport | undefined;
  const shards = isWebDatasetInput(o.data, o.datasetType, CAPTION_FILES);
  if (shards) {
    // streamed below, once the tokenizer and processor are known
  } else if (typeof o.data === 'string') {
    const file = findPairsFile(o.data);
    const r = await readImageTextPairs(file, { root: o.imageRoot, captionColumn: o.captionColumn, imageColumn: o.imageColumn });
    pairs = r.pairs;
    report = r.report;
    log(formatReport(report));
  } else pairs = o.data as ImageTextPair[];
  if (!shards && pairs.length === 0) throw new Error(`contrastive: no usable image-text pairs in ${typeof o.data === 'string' ? o.data : 'the given list'}`);

  const { model, dir } = await resolveModel(o.model, cfg.seed ?? 0);
  try {
    const parts = await clipStageParts({ ...o, log }, model, dir);
    const { tokenizer, processor, all, params, imageFrozen } = parts;
    const maxLength = o.maxLength ?? textMaxLength(model as any);
    let failedCount = 0;
    const streamed = shards ? await streamedPairs(o, model, parts, maxLength, log) : undefined;
    const ds = { getImage: (i: number) => loadImage(pairs[i].image), imagePath: (i: number) => pairs[i].image };
    const data: BatchSource<ClipBatch> | DataSource<ClipBatch> = streamed?.source ?? clipBatchSource({
      size: pairs.length,
      caption: (i) => pairs[i].caption,
      loader: datasetLoader(model as any, ds as any, processor, { skipErrors: true }),
      tokenizer,
      maxLength,
      model,
      imageFrozen,
      onFailed: (i, err) => {
        failedCount++;
        if (failedCount <= 5) log(`skipping unreadable image ${pairs[i].image} (line ${pairs[i].line}): ${err}`);
      },
    });
    if (!streamed) log(`contrastive: ${pairs.length} pairs, ${params.size}/${all.size} parameter tensors trainable${imageFrozen ? ' (image tower frozen)' : ''}, run ${runDir}`);
    const r = await trainClipStage({ stage: 'contrastive', o, model, parts, data, cfg, runDir, log });
    if (failedCount) log(`contrastive: ${failedCount} unreadable image(s) skipped`);
    if (streamed) {
      report = streamed.report;
      failedCount = report.reasons['corrupt image'] ?? 0;
      log(formatReport(report).replace(/\n {2}line (\d+): /g, '\n  '));
    }
    const finalDir = await saveFinalModel({ status: r.status, runDir, model, tokenizer, processor, log, message: (d) => `contrastive: model written to ${d}` });
    return { ...r, runDir, finalDir, report, failedImages: failedCount };
  } finally {
    if (typeof o.model === 'string') model.dispose();
  }
}

/** WebDataset shards as the contrastive stage's DataSource (trainer wiring; the redesign moves this into the data phase). */
async function streamedPairs(o: ContrastiveOptions, model: AnyClipModel, parts: Awaited<ReturnType<typeof clipStageParts>>, maxLength: number, log: (l: string) => void) {
  return webDatasetClipSource({
    ...o,
    data: o.data as string | string[],
    processor: parts.processor,
    tokenizer: parts.tokenizer,
    maxLength,
    model,
    imageFrozen: parts.imageFrozen,
    log,
  });
}
