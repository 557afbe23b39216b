import * as tf from '@tensorflow/tfjs-core';
import type { ImageProcessor } from '@altclip/image';
import {
  BatchLoader, ClassificationDataset, classificationEvalSource, EvalImageSource, isEvalImageSource, RetrievalDataset, retrievalEvalSource, TokenizerLike,
} from '@altclip/data';
import { processorFor } from '@altclip/models';
import { zeroShotClassifier, zeroShotLogits } from './classifier';
import { retrievalMetrics, RetrievalMetrics, zeroShotMetrics, ZeroShotMetrics, normalizeRows } from './metrics';
import { FeatureModel, textFeatures } from './model-types';


export interface Progress {
  phase: 'classifier' | 'images' | 'texts';
  done: number;
  total: number;
  elapsedSec: number;
  /** Items per second in this phase so far. */
  rate: number;
}

/** The given processor, else CLIP preprocessing (HF CLIPImageProcessor defaults) at the model's image size. */
function processorOf(model: FeatureModel, processor?: ImageProcessor): ImageProcessor {
  return processor ?? processorFor(undefined, model.config?.vision_config?.image_size ?? 224).processor;
}

/** Image features of one pixel batch, L2-normalised: [B, D] (tensors disposed). */
function imageFeatureBatch(model: FeatureModel, batch: { data: Float32Array; shape: [number, number, number, number] }): tf.Tensor2D {
  const px = tf.tensor4d(batch.data, batch.shape);
  try {
    return model.getImageFeatures(px);
  } finally {
    px.dispose();
  }
}

export interface ZeroShotEvalOptions {
  model: FeatureModel;
  /** Needed unless `classifier` is given. */
  tokenizer?: TokenizerLike;
  /** An indexed dataset, or any other source of labelled images (e.g. webDatasetEvalSource over shards). */
  dataset: ClassificationDataset | EvalImageSource<number>;
  /** Default: dataset.classNames (required for a source without class names). */
  classnames?: string[];
  templates?: string[];
  /** A precomputed classifier W [D, C] (not disposed here); skips the text pass. */
  classifier?: tf.Tensor2D;
  /** Image -> CHW float32 (ImageProcessor.process); default CLIP preprocessing at the model's image size. */
  processor?: ImageProcessor;
  /** A custom pixel source for an indexed dataset (e.g. a worker pool): dataset indices -> NCHW batch. Overrides processor. */
  loader?: BatchLoader;
  batchSize?: number;
  /** Evaluate only the first `limit` images (after `start`). */
  limit?: number;
  start?: number;
  /** Batches decoded ahead while the model runs (default 2). */
  prefetchDepth?: number;
  /** Skip unreadable images of an indexed dataset instead of failing (counted in `skipped`; a stream always skips). */
  skipErrors?: boolean;
  /** Worker threads for file decoding (default: all CPUs). */
  threads?: number;
  /** Keep the [N, C] logits in the result. */
  keepLogits?: boolean;
  onProgress?: (p: Progress) => void;
  /** Called for each class caption that tokenizes to nothing but <unk>. */
  onUnknownOnly?: (text: string) => void;
}

export interface ZeroShotEvalResult {
  metrics: ZeroShotMetrics;
  /** Images scored. */
  n: number;
  skipped: { index: number; error: string }[];
  seconds: number;
  imagesPerSecond: number;
  classnames: string[];
  templates: string[] | null;
  logits?: Float32Array;
  labels?: Int32Array;
}

/**
 * Streams a classification dataset through the image tower and scores it against the zero-shot classifier.
 * Memory stays flat: one batch of pixels/features at a time plus the [N, C] logits; no tensor outlives a batch.
 */
export async function evaluateZeroShot(opts: ZeroShotEvalOptions): Promise<ZeroShotEvalResult> {
  const { model, dataset } = opts;
  const known = isEvalImageSource<number>(dataset) ? undefined : dataset.classNames;
  const classnames = opts.classnames ?? known;
  if (!classnames) throw new Error(`evaluateZeroShot: ${dataset.name} has no class names; give classnames`);
  if (known && classnames.length !== known.length) {
    throw new Error(`${classnames.length} class names given, but ${dataset.name} has ${known.length} classes`);
  }
  const source = isEvalImageSource<number>(dataset) ? dataset : classificationEvalSource(dataset, opts.loader);
  const start = opts.start ?? 0;
  const total = Math.min(source.size - start, opts.limit === undefined ? Infinity : Math.max(0, opts.limit));
  if (total <= 0) throw new Error(`evaluateZeroShot: nothing to evaluate (start ${start}, limit ${opts.limit}, dataset size ${source.size})`);
  const bs = opts.batchSize ?? 32;
  const t0 = Date.now();

  let classifier = opts.classifier;
  let ownClassifier = false;
  if (!classifier) {
    if (!opts.tokenizer) throw new Error('evaluateZeroShot: give a tokenizer (or a precomputed classifier)');
    if (!opts.templates || opts.templates.length === 0) throw new Error('evaluateZeroShot: no templates');
    const tc = Date.now();
    classifier = zeroShotClassifier(model, opts.tokenizer, classnames, opts.templates, {
      onUnknownOnly: opts.onUnknownOnly,
      onProgress: (d, t) => opts.onProgress?.({ phase: 'classifier', done: d, total: t, elapsedSec: (Date.now() - tc) / 1000, rate: (d * 1000) / Math.max(1, Date.now() - tc) }),
    });
    ownClassifier = true;
  }
  const c = classifier.shape[1];
  const logits = new Float32Array(total * c); // the only per-image state kept: [N, C]
  const labels = new Int32Array(total);
  const skipped: ZeroShotEvalResult['skipped'] = [];
  let n = 0;
  const pass = { processor: processorOf(model, opts.processor), batchSize: bs, start, limit: total, prefetchDepth: opts.prefetchDepth, threads: opts.threads, skipErrors: opts.skipErrors };
  const tImages = Date.now();
  try {
    for await (const batch of source.batches(pass)) {
      skipped.push(...batch.failed);
      if (batch.indices.length === 0) continue;
      const out = tf.tidy(() => zeroShotLogits(imageFeatureBatch(model, batch), classifier!)); // [B, C]
      logits.set(out.dataSync(), n * c);
      out.dispose();
      for (const label of batch.meta) labels[n++] = label;
      const el = (Date.now() - tImages) / 1000;
      opts.onProgress?.({ phase: 'images', done: n + skipped.length, total, elapsedSec: el, rate: (n + skipped.length) / Math.max(el, 1e-3) });
    }
  } finally {
    if (ownClassifier) classifier.dispose();
  }
  if (n === 0) throw new Error(`evaluateZeroShot: no image could be read (${skipped.length} failed; first: ${skipped[0]?.error})`);
  const seconds = (Date.now() - t0) / 1000;
  const imageSeconds = (Date.now() - tImages) / 1000;
  const metrics = zeroShotMetrics({ data: logits.subarray(0, n * c), shape: [n, c] }, labels.subarray(0, n));
  return {
    metrics,
    n,
    skipped,
    seconds,
    imagesPerSecond: n / Math.max(imageSeconds, 1e-3),
    classnames,
    templates: opts.classifier ? null : opts.templates!,
    ...(opts.keepLogits ? { logits: logits.slice(0, n * c), labels: labels.slice(0, n) } : {}),
  };
}

export interface RetrievalEvalOptions {
  model: FeatureModel;
  tokenizer: TokenizerLike;
  /** A captions file's set, or any other source of images with their captions (e.g. webDatasetEvalSource over shards). */
  dataset: RetrievalDataset | EvalImageSource<string[]>;
  processor?: ImageProcessor;
  batchSize?: number;
  /** Use only the first `limit` images (after `start`), with their captions. */
  limit?: number;
  start?: number;
  ks?: number[];
  prefetchDepth?: number;
  threads?: number;
  /** Skip unreadable image files instead of failing (counted in `skipped`; a stream always skips). */
  skipErrors?: boolean;
  /** Keep the normalised embeddings and the captions in the result. */
  keepEmbeddings?: boolean;
  onProgress?: (p: Progress) => void;
  /** Called for each caption that tokenizes to nothing but <unk>. */
  onUnknownOnly?: (text: string) => void;
}

export interface RetrievalEvalResult {
  metrics: RetrievalMetrics;
  nImages: number;
  nTexts: number;
  /** Positions whose image (or caption) could not be used, with why. */
  skipped: { index: number; error: string }[];
  seconds: number;
  imagesPerSecond: number;
  textsPerSecond: number;
  /** With keepEmbeddings: image [nImages, D] and text [nTexts, D] rows (L2-normalised), the texts and each one's image. */
  embeddings?: { image: Float32Array; text: Float32Array; dim: number; texts: string[]; textToImage: Int32Array };
}

/**
 * Zero-shot retrieval over a RetrievalDataset or a stream of captioned images: each image batch's features, then the
 * features of its captions (in batches of `batchSize`); only the normalised [N, D] feature matrices are kept
 * (retrieval needs all of them). The captions are batched per image batch so that a pass over a window of whole
 * batches (a --shard) embeds every caption in the same text batch as the full pass: the same bits.
 */
export async function evaluateRetrieval(opts: RetrievalEvalOptions): Promise<RetrievalEvalResult> {
  const { model, tokenizer } = opts;
  const source = isEvalImageSource<string[]>(opts.dataset) ? opts.dataset : retrievalEvalSource(opts.dataset);
  const start = opts.start ?? 0;
  const cap = Math.min(source.size - start, opts.limit ?? Infinity);
  if (cap <= 0) throw new Error(`evaluateRetrieval: no images (start ${start}, limit ${opts.limit}, dataset size ${source.size})`);
  const bs = opts.batchSize ?? 32;
  const t0 = Date.now();
  // Kept: the normalised image [nI, D] and caption [nT, D] features (retrieval ranks all of them), the captions and each one's image.
  const imageRows: Float32Array[] = [];
  const textRows: Float32Array[] = [];
  let d = 0;
  let nI = 0;
  let textMs = 0;
  const texts: string[] = [];
  const textToImage: number[] = [];
  const skipped: RetrievalEvalResult['skipped'] = [];
  const pass = { processor: processorOf(model, opts.processor), batchSize: bs, start, limit: cap, prefetchDepth: opts.prefetchDepth, threads: opts.threads, skipErrors: opts.skipErrors };
  for await (const batch of source.batches(pass)) {
    skipped.push(...batch.failed);
    if (batch.indices.length > 0) {
      const f = imageFeatureBatch(model, batch); // [B, D]
      const data = f.dataSync() as Float32Array;
      d = f.shape[1];
      f.dispose();
      imageRows.push(normalizeRows(data, batch.indices.length, d));
      const caps = batch.meta.flatMap((cs, k) => cs.map((t) => (textToImage.push(nI + k), t)));
      const tt = Date.now();
      for (const r of textFeatures(model, tokenizer, caps, { batchSize: bs, onUnknownOnly: opts.onUnknownOnly })) textRows.push(normalizeRows(r, 1, r.length));
      textMs += Date.now() - tt;
      texts.push(...caps);
      nI += batch.indices.length;
    }
    const el = (Date.now() - t0) / 1000;
    const done = nI + skipped.length;
    opts.onProgress?.({ phase: 'images', done, total: cap, elapsedSec: el, rate: done / Math.max(el, 1e-3) });
  }
  if (nI === 0) throw new Error(`evaluateRetrieval: no image could be read (${skipped.length} failed; first: ${skipped[0]?.error})`);
  const imageEmb = concatRows(imageRows, nI * d);
  const textEmb = concatRows(textRows, texts.length * d);
  const t2i = Int32Array.from(textToImage);
  const metrics = retrievalMetrics({ data: textEmb, shape: [texts.length, d] }, { data: imageEmb, shape: [nI, d] }, t2i, opts.ks);
  const imageSeconds = (Date.now() - t0 - textMs) / 1000;
  return {
    metrics,
    nImages: nI,
    nTexts: texts.length,
    skipped,
    seconds: (Date.now() - t0) / 1000,
    imagesPerSecond: nI / Math.max(imageSeconds, 1e-3),
    textsPerSecond: texts.length / Math.max(textMs / 1000, 1e-3),
    ...(opts.keepEmbeddings ? { embeddings: { image: imageEmb, text: textEmb, dim: d, texts, textToImage: t2i } } : {}),
  };
}

/** Rows laid end to end: one array of `length` values. */
function concatRows(rows: Float32Array[], length: number): Float32Array {
  const out = new Float32Array(length);
  rows.reduce((o, r) => (out.set(r, o), o + r.length), 0);
  return out;
}
