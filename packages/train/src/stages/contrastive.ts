import * as path from 'path';
import * as fs from 'fs';
import { loadImage } from '@altclip/image';
import { datasetLoader, formatReport, formatStreamReport, readImageTextPairs, ReadReport, ImageTextPair } from '@altclip/data';
import { AnyClipModel, loadModelBundle, textMaxLength } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';
import { ClipBatch, clipBatchSource, clipParams, FEATURE_CHUNK, clipTask, warnSinglePairBatches } from '../tasks/clip';
import type { BatchSource } from '../trainer';
import type { DataSource } from '../sources/types';
import { isWebDatasetInput, webDatasetClipSource } from '../sources/webdataset';
import { resolveRunDir, resolveStage, StageOptionsOf, StageResult, trainStage } from './common';

/** Stage 2 (PAPER 5.2, Table 6): lr 2e-6, wd 5e-2, warmup 2000, clip 5.0, batch 1024, image tower frozen. */
export const CONTRASTIVE_DEFAULTS: Partial<ContrastiveOptions> = {
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

export interface ContrastiveOptions extends Omit<StageOptionsOf<'contrastive'>, 'model' | 'tokenizer' | 'data'> {
  /** AltCLIP or CLIP folder, hub id, a named config (configs/models), or a loaded model. */
  model?: string | AnyClipModel;
  /** Tokenizer folder or instance (default: the model folder's; the shipped CLIP BPE for CLIP configs). */
  tokenizer?: string | TextTokenizer;
  /** Pairs file (CSV/TSV/JSONL) or a folder holding captions.{jsonl,tsv,csv}, or pairs already read. */
  data?: string | ImageTextPair[];
}

const CAPTION_FILES = ['captions.jsonl', 'captions.tsv', 'captions.csv', 'pairs.jsonl', 'pairs.tsv', 'pairs.csv', 'metadata.jsonl'];

function findPairsFile(p: string): string {
  if (!fs.statSync(p).isDirectory()) return p;
  for (const f of CAPTION_FILES) {
    if (fs.existsSync(path.join(p, f))) return path.join(p, f);
  }
  throw new Error(`${p}: a data folder needs a captions file (captions.jsonl|tsv|csv, pairs.*, metadata.jsonl)`);
}

/** The pairs to train on: read (and reported) from a file or folder, or given. */
async function readPairs(o: ContrastiveOptions, log: (l: string) => void): Promise<{ pairs: ImageTextPair[]; report?: ReadReport }> {
  if (typeof o.data !== 'string') return { pairs: o.data! };
  const r = await readImageTextPairs(findPairsFile(o.data), { root: o.imageRoot, captionColumn: o.captionColumn, imageColumn: o.imageColumn });
  log(formatReport(r.report));
  return r;
}

/** `altclip contrastive`: CLIP loss on image-text pairs; image tower frozen unless lockImage is false. */
export async function runContrastive(opts: ContrastiveOptions): Promise<StageResult> {
  const { o, cfg, log, parallel } = resolveStage('contrastive', CONTRASTIVE_DEFAULTS, opts);
  if (!o.model) throw new Error('contrastive: --model is required (a model folder or a named config)');
  if (!o.data) throw new Error('contrastive: --data is required');
  const runDir = resolveRunDir(o, 'contrastive');
  // WebDataset shards are streamed below, once the tokenizer and processor are known.
  const shards = isWebDatasetInput(o.data, o.datasetType, CAPTION_FILES) ? o.data : undefined;
  const { pairs, report } = shards ? { pairs: [], report: undefined } : await readPairs(o, log);
  if (!shards && pairs.length === 0) throw new Error(`contrastive: no usable image-text pairs in ${typeof o.data === 'string' ? o.data : 'the given list'}`);

  const bundle = await loadModelBundle(o.model!, { tokenizer: o.tokenizer, seed: cfg.seed ?? 0 });
  const { model, tokenizer, processor } = bundle;
  try {
    const { params, imageFrozen } = clipParams(o, model, log);
    let failed = 0;
    const maxLength = o.maxLength ?? textMaxLength(model.config);
    const streamed = shards ? await webDatasetClipSource({ ...o, data: shards, processor, tokenizer, maxLength, model, imageFrozen, log }) : undefined;
    const ds = { getImage: (i: number) => loadImage(pairs[i].image), imagePath: (i: number) => pairs[i].image };
    const data: BatchSource<ClipBatch> | DataSource<ClipBatch> = streamed?.source ?? clipBatchSource({
      size: pairs.length,
      caption: (i) => pairs[i].caption,
      loader: datasetLoader(ds, processor, { skipErrors: true }),
      tokenizer,
      maxLength,
      model,
      imageFrozen,
      featureChunk: FEATURE_CHUNK, // a sample's cached features independent of its batch: exact resume (tasks/clip.ts)
      onFailed: (i, err) => {
        failed++;
        if (failed <= 5) log(`skipping unreadable image ${pairs[i].image} (line ${pairs[i].line}): ${err}`);
      },
    });
    warnSinglePairBatches(cfg.batchSize, streamed ? undefined : pairs.length, 'contrastive', log);
    log(`contrastive: ${streamed ? 'WebDataset shards' : `${pairs.length} pairs`}, ${params.size}/${model.namedParameters().size} parameter tensors trainable${imageFrozen ? ' (image tower frozen)' : ''}, run ${runDir}`);
    const task = clipTask(model, { imageFrozen, dropout: o.dropout, loss: o.loss });
    const { result, finalDir } = await trainStage({
      stage: 'contrastive', o, cfg, runDir, log, parallel, task, data, model, tokenizer, processor, params,
      finalMessage: (d) => `contrastive: model written to ${d}`,
    });
    if (failed) log(`contrastive: ${failed} unreadable image(s) skipped`);
    if (streamed) log(formatStreamReport(streamed.report));
    return { ...result, runDir, finalDir, report: streamed?.report ?? report, failedImages: streamed ? streamed.report.reasons['corrupt image'] ?? 0 : failed };
  } finally {
    bundle.dispose();
  }
}
