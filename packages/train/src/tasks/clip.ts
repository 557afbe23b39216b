/** The CLIP-loss task of `contrastive` and `finetune`: text and image features, a contrastive loss, logit_scale kept in range. */
import * as tf from '@tensorflow/tfjs-core';
import { BatchLoader, encodeTexts, PixelBatch } from '@altclip/data';
import type { ClipLikeModel, FrozenDtype } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';
import type { FeatureTask } from '../grads';
import { FreezeOptions, selectTrainable, storeFrozen } from '../params';
import { CONTRASTIVE_LOCAL_LOSSES, CONTRASTIVE_LOSSES, ContrastiveLossName } from '../losses';
import type { BatchSource } from '../trainer';

/** One micro-batch of a CLIP-loss stage. */
export interface ClipBatch {
  ids: tf.Tensor2D; // [n, L] int32
  mask: tf.Tensor2D; // [n, L] int32
  pixels?: tf.Tensor4D; // [n, 3, S, S]
  /** Image features of a frozen image tower, computed during loading [n, D]. */
  imageFeats?: tf.Tensor2D;
}

/**
 * Clamps a trained logit_scale to [0, logitScaleMax] (default ln 100) after each update, as CLIP does. A frozen one
 * (not among the trained parameters, e.g. BAAI/AltCLIP's 4.6052 > ln 100) stays as loaded.
 */
export function clampLogitScale(params: Map<string, tf.Variable>, config: { logitScaleMax?: number }): void {
  const s = params.get('logit_scale');
  if (s) tf.tidy(() => s.assign(tf.clipByValue(s, 0, config.logitScaleMax ?? Math.log(100))));
}

/** The CLIP contrastive task: features [text, image], the named contrastive loss with the learnable temperature. */
export function clipTask(model: ClipLikeModel, o: { imageFrozen: boolean; dropout?: boolean; loss?: ContrastiveLossName }): FeatureTask<ClipBatch> {
  const loss = CONTRASTIVE_LOSSES[o.loss ?? 'clip'];
  const local = CONTRASTIVE_LOCAL_LOSSES[o.loss ?? 'clip'];
  return {
    features: (b, ctx) => {
      const training = ctx.training && o.dropout !== false;
      const text = model.getTextFeatures(b.ids, b.mask, { training });
      let image: tf.Tensor;
      if (b.imageFeats) image = tf.clone(b.imageFeats);
      else if (o.imageFrozen && ctx.cached) image = ctx.cached[1];
      else image = model.getImageFeatures(b.pixels!, { training: training && !o.imageFrozen });
      return [text, image];
    },
    constantFeatures: o.imageFrozen ? [1] : [],
    loss: ([t, i]) => loss(t as tf.Tensor2D, i as tf.Tensor2D, model.logitScale),
    localLoss: local && (([t, i], rows) => local(t as tf.Tensor2D, i as tf.Tensor2D, rows, model.logitScale)),
    afterUpdate: clampLogitScale,
  };
}

/** Samples per frozen-tower call of finetune and contrastive (clipBatchSource featureChunk). */
export const FEATURE_CHUNK = 16;

/**
 * Batches for a CLIP-loss stage: captions tokenised on the fly, pixels from `loader` (decoded off the main thread
 * for file datasets). Unreadable images are dropped from their batch and counted. With a frozen image tower the
 * image features are computed once per sample and cached (the tower never changes), so later epochs skip it.
 *
 * With `featureChunk` R the frozen tower runs on fixed chunks of the index space: a miss on sample i computes chunk
 * k = floor(i / R), samples [kR, (k+1)R), in one call of R rows, sample j in row j - kR (rows of unreadable, cached
 * or past-the-end samples zero), and caches the whole chunk. A resumed run fills the cache in other groupings than
 * the uninterrupted one (the samples it skipped come later, a few per batch), and on the native backend an image's
 * features depend on the row count of the call and on the image's place in it (GEMM row tiles), so resumed runs
 * drifted by ~1e-8 (issue 24, item 11). Rows do not mix (every op is per row or per image), so a sample's features
 * are a function of its pixels, R and j - kR alone, on any resume point. One image a call (R = 1) would do as well but
 * costs ~16% more compute per image than 32 a call (bench frozen-features: ViT-B/16, 1 native thread); R = 16
 * batches like a loaded batch (a first epoch of 48 images, ViT-B/16, 2 threads: 26.3 s against 37.0 s one a call). The price: a miss loads its chunk's other uncached members too (the first epoch loads
 * the same images, earlier), and beyond `cacheFloats` every miss in a later epoch reloads and recomputes its chunk.
 */
export function clipBatchSource(a: {
  size: number;
  caption: (i: number) => string;
  loader: BatchLoader;
  tokenizer: TextTokenizer;
  maxLength: number;
  model: ClipLikeModel;
  imageFrozen: boolean;
  /** Cache preprocessed pixels (trainable image tower) or image features (frozen) up to this many floats. */
  cacheFloats?: number;
  /** Frozen tower: compute features in fixed chunks of this many samples (see above); default: each loaded batch. */
  featureChunk?: number;
  onFailed?: (index: number, error: string) => void;
}): BatchSource<ClipBatch> & { failed: Map<number, string> } {
  const failed = new Map<number, string>();
  const cache = new Map<number, Float32Array>();
  let cachedFloats = 0;
  const budget = a.cacheFloats ?? 64 * 2 ** 20;
  const R = a.featureChunk;
  if (R !== undefined && !(Number.isInteger(R) && R >= 1)) throw new Error(`clipBatchSource: featureChunk must be an integer >= 1, got ${R}`);
  const load = async (indices: number[]) => {
    const px = await a.loader(indices);
    for (const f of px.failed) {
      failed.set(f.index, f.error);
      a.onFailed?.(f.index, f.error);
    }
    return px;
  };
  /** The frozen tower's features [n, D] of pixels [n, c, h, w]. */
  const features = (px: Float32Array, n: number, [, c, h, w]: PixelBatch['shape']): Float32Array => {
    const f = tf.tidy(() => a.model.getImageFeatures(tf.tensor4d(px, [n, c, h, w]))); // [n, D]
    const y = f.dataSync() as Float32Array;
    f.dispose();
    return y;
  };
  /** Row r of `data` ([rows, per]) as sample idx's row of this batch, cached if the budget allows. */
  const keep = (rows: Map<number, Float32Array>, idx: number, data: Float32Array, r: number, per: number) => {
    const row = data.slice(r * per, (r + 1) * per);
    rows.set(idx, row);
    if (cachedFloats + row.length <= budget) {
      cache.set(idx, row);
      cachedFloats += row.length;
    }
  };
  /** Loads `need`: pixels, or the frozen tower's features of the whole batch in one call. */
  const loadBatch = async (need: number[]) => {
    const rows = new Map<number, Float32Array>();
    const px = await load(need);
    if (!px.indices.length) return rows;
    const data = a.imageFrozen ? features(px.data, px.indices.length, px.shape) : px.data;
    px.indices.forEach((idx, r) => keep(rows, idx, data, r, data.length / px.indices.length));
    return rows;
  };
  /** Frozen tower, featureChunk R: the features of the chunks holding `need`, each chunk in its fixed R-row layout. */
  const loadChunks = async (need: number[], R: number) => {
    const rows = new Map<number, Float32Array>();
    for (const k of new Set(need.map((i) => Math.floor(i / R)))) {
      const members = [];
      for (let i = k * R; i < Math.min((k + 1) * R, a.size); i++) if (!failed.has(i) && !cache.has(i)) members.push(i);
      const px = await load(members);
      if (!px.indices.length) continue;
      const per = px.data.length / px.indices.length;
      const chunk = new Float32Array(R * per); // [R, c, h, w], sample i in row i - kR
      px.indices.forEach((i, r) => chunk.set(px.data.subarray(r * per, (r + 1) * per), (i - k * R) * per));
      const y = features(chunk, R, px.shape); // [R, D]
      for (const i of px.indices) keep(rows, i, y, i - k * R, y.length / R);
    }
    return rows;
  };
  return {
    size: a.size,
    failed,
    async batch(indices: number[]) {
      const want = indices.filter((i) => !failed.has(i));
      const need = want.filter((i) => !cache.has(i));
      let rows = new Map<number, Float32Array>();
      if (need.length) rows = a.imageFrozen && R ? await loadChunks(need, R) : await loadBatch(need);
      const kept = want.filter((i) => !failed.has(i));
      if (kept.length === 0) return null;
      const get = (i: number) => cache.get(i) ?? rows.get(i)!;
      const { ids, mask } = encodeTexts(a.tokenizer, kept.map(a.caption), a.maxLength);
      const per = get(kept[0]).length;
      const flat = new Float32Array(kept.length * per);
      kept.forEach((i, r) => flat.set(get(i), r * per));
      if (a.imageFrozen) return { ids, mask, imageFeats: tf.tensor2d(flat, [kept.length, per]) };
      const side = Math.round(Math.sqrt(per / 3));
      return { ids, mask, pixels: tf.tensor4d(flat, [kept.length, 3, side, side]) };
    },
  };
}

/**
 * Which parameters of a CLIP-loss stage train (--lock-image, --lock-text, --freeze, ...), the rest stored in
 * --frozen-dtype; and whether the image tower is frozen (its features can then be computed once per image).
 */
export function clipParams(o: FreezeOptions & { frozenDtype?: 'f32' | FrozenDtype }, model: ClipLikeModel, log: (l: string) => void): { params: Map<string, tf.Variable>; imageFrozen: boolean } {
  const params = selectTrainable(model.namedParameters(), o);
  storeFrozen(model, params, o.frozenDtype, log);
  const imageFrozen = ![...params.keys()].some((k) => k.startsWith('vision_model.') || k.startsWith('visual_projection'));
  return { params, imageFrozen };
}

/** A contrastive step needs negatives: a batch of one pair has a loss of 0 and teaches nothing. */
export function warnSinglePairBatches(batchSize: number, samples: number | undefined, stage: string, log: (l: string) => void): void {
  const n = Math.min(batchSize, samples ?? batchSize);
  if (n < 2) log(`${stage}: warning: batches of ${n} pair: the contrastive loss has no negatives, is 0 and trains nothing (use more pairs and --batch-size >= 2)`);
}
