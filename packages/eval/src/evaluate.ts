import * as tf from '@tensorflow/tfjs-core';
import { ImageProcessor, loadImage } from '@altclip/image';
import { BatchLoader, ClassificationDataset, datasetLoader, prefetch, RawImage, RetrievalDataset, sequentialBatches, TokenizerLike } from '@altclip/data';
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
  dataset: ClassificationDataset;
  /** Default: dataset.classNames. */
  classnames?: string[];
  templates?: string[];
  /** A precomputed classifier W [D, C] (not disposed here); skips the text pass. */
  classifier?: tf.Tensor2D;
  /** Image -> CHW float32 (ImageProcessor.process); default CLIP preprocessing at the model's image size. */
  processor?: ImageProcessor;
  /** A custom pixel source (e.g. a worker pool): dataset indices -> NCHW batch. Overrides processor. */
  loader?: BatchLoader;
  batchSize?: number;
  /** Evaluate only the first `limit` images (after `start`). */
  limit?: number;
  start?: number;
  /** Batches decoded ahead while the model runs (default 2). */
  prefetchDepth?: number;
  /** Skip unreadable images instead of failing (they are counted in `skipped`). */
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
  const classnames = opts.classnames ?? dataset.classNames;
  if (classnames.length !== dataset.classNames.length) {
    throw new Error(`${classnames.length} class names given, but ${dataset.name} has ${dataset.classNames.length} classes`);
  }
  const start = opts.start ?? 0;
  const end = Math.min(dataset.size, opts.limit === undefined ? dataset.size : start + Math.max(0, opts.limit));
  const total = end - start;
  if (total <= 0) throw new Error(`evaluateZeroShot: nothing to evaluate (start ${start}, limit ${opts.limit}, dataset size ${dataset.size})`);
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
  const loader = opts.loader ?? datasetLoader(dataset, processorOf(model, opts.processor), { skipErrors: opts.skipErrors, threads: opts.threads });
  const tImages = Date.now();
  try {
    for await (const batch of prefetch(sequentialBatches(start, end, bs), loader, opts.prefetchDepth ?? 2)) {
      skipped.push(...batch.failed);
      if (batch.indices.length === 0) continue;
      const out = tf.tidy(() => zeroShotLogits(imageFeatureBatch(model, batch), classifier!)); // [B, C]
      logits.set(out.dataSync(), n * c);
      out.dispose();
      for (const i of batch.indices) labels[n++] = dataset.labels[i];
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
  dataset: RetrievalDataset;
  processor?: ImageProcessor;
  batchSize?: number;
  /** Use only the first `limit` images (and their captions). */
  limit?: number;
  ks?: number[];
  prefetchDepth?: number;
  threads?: number;
  onProgress?: (p: Progress) => void;
  /** Called for each caption that tokenizes to nothing but <unk>. */
  onUnknownOnly?: (text: string) => void;
}

export interface RetrievalEvalResult {
  metrics: RetrievalMetrics;
  nImages: number;
  nTexts: number;
  seconds: number;
  imagesPerSecond: number;
  textsPerSecond: number;
}

/**
 * Zero-shot retrieval over a RetrievalDataset: image features streamed in batches from files, text features in
 * batches; only the normalised [N, D] feature matrices are kept (retrieval needs all of them).
 */
export async function evaluateRetrieval(opts: RetrievalEvalOptions): Promise<RetrievalEvalResult> {
  const { model, tokenizer } = opts;
  const ds = opts.dataset;
  const nI = Math.min(ds.images.length, opts.limit ?? ds.images.length);
  if (nI <= 0) throw new Error('evaluateRetrieval: no images');
  const textIdx: number[] = [];
  for (let j = 0; j < ds.captions.length; j++) if (ds.textToImage[j] < nI) textIdx.push(j);
  const bs = opts.batchSize ?? 32;
  const t0 = Date.now();
  const files = { getImage: (i: number) => loadImage(ds.images[i]) as Promise<RawImage>, imagePath: (i: number) => ds.images[i] };
  const loader = datasetLoader(files, processorOf(model, opts.processor), { threads: opts.threads });
  let imageEmb: Float32Array | null = null;
  let d = 0;
  let done = 0;
  for await (const batch of prefetch(sequentialBatches(0, nI, bs), loader, opts.prefetchDepth ?? 2)) {
    const f = imageFeatureBatch(model, batch);
    const data = f.dataSync() as Float32Array;
    d = f.shape[1];
    f.dispose();
    imageEmb ??= new Float32Array(nI * d);
    imageEmb.set(normalizeRows(data, batch.indices.length, d), done * d);
    done += batch.indices.length;
    const el = (Date.now() - t0) / 1000;
    opts.onProgress?.({ phase: 'images', done, total: nI, elapsedSec: el, rate: done / Math.max(el, 1e-3) });
  }
  const imageSeconds = (Date.now() - t0) / 1000;
  const t1 = Date.now();
  const texts = textIdx.map((j) => ds.captions[j]);
  const textEmb = new Float32Array(texts.length * d);
  for (let s = 0; s < texts.length; s += bs) {
    const feats = textFeatures(model, tokenizer, texts.slice(s, s + bs), { batchSize: bs, onUnknownOnly: opts.onUnknownOnly });
    feats.forEach((f, r) => textEmb.set(normalizeRows(f, 1, d), (s + r) * d));
    const el = (Date.now() - t1) / 1000;
    opts.onProgress?.({ phase: 'texts', done: Math.min(s + bs, texts.length), total: texts.length, elapsedSec: el, rate: Math.min(s + bs, texts.length) / Math.max(el, 1e-3) });
  }
  const textSeconds = (Date.now() - t1) / 1000;
  const t2i = Int32Array.from(textIdx.map((j) => ds.textToImage[j]));
  const metrics = retrievalMetrics({ data: textEmb, shape: [texts.length, d] }, { data: imageEmb!, shape: [nI, d] }, t2i, opts.ks);
  return {
    metrics,
    nImages: nI,
    nTexts: texts.length,
    seconds: (Date.now() - t0) / 1000,
    imagesPerSecond: nI / Math.max(imageSeconds, 1e-3),
    textsPerSecond: texts.length / Math.max(textSeconds, 1e-3),
  };
}
