/** The CLIP-loss task of `contrastive` and `finetune`: text and image features, a contrastive loss, logit_scale kept in range. */
import * as tf from '@tensorflow/tfjs-core';
import { BatchLoader, encodeTexts, inFixedBatches, PixelBatch } from '@altclip/data';
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

/**
 * Batches for a CLIP-loss stage: captions tokenised on the fly, pixels from `loader` (decoded off the main thread
 * for file datasets). Unreadable images are dropped from their batch and counted. With a frozen image tower the
 * image features are computed once per sample and cached (the tower never changes), so later epochs skip it.
 *
 * With `featureRows` the frozen tower always runs on that many rows (the last call padded; see inFixedBatches). The
 * stages pass 1: a resumed run fills the cache in other groupings than the uninterrupted one (the samples it skipped
 * come later, a few per batch), and on the native backend an image's features depend on the row count of the call
 * and on the image's place in it (GEMM row tiles), so resumed runs drifted by ~1e-8 (issue 24, item 11). One image a
 * call makes a sample's features a function of the sample alone; it costs only the first epoch's tower passes.
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
  /** Rows of every frozen image-tower call (1: each image alone); default: the rows of each loaded batch. */
  featureRows?: number;
  onFailed?: (index: number, error: string) => void;
}): BatchSource<ClipBatch> & { failed: Map<number, string> } {
  const failed = new Map<number, string>();
  const cache = new Map<number, Float32Array>();
  let cachedFloats = 0;
  const budget = a.cacheFloats ?? 64 * 2 ** 20;
  /** The rows of a freshly loaded pixel batch: pixels, or the frozen tower's features of them. */
  const rowsOf = (px: PixelBatch) => {
    const rows = new Map<number, Float32Array>();
    if (!px.indices.length) return rows;
    let per = px.data.length / px.indices.length;
    let data = px.data;
    if (a.imageFrozen) {
      const [, c, h, w] = px.shape;
      const features = (chunk: Float32Array, n: number): Float32Array => {
        const f = tf.tidy(() => a.model.getImageFeatures(tf.tensor4d(chunk, [n, c, h, w]))); // [n, D]
        const y = f.dataSync() as Float32Array;
        f.dispose();
        return y;
      };
      ({ data, dim: per } = inFixedBatches(px.data, px.indices.length, a.featureRows ?? px.indices.length, features));
    }
    px.indices.forEach((idx, r) => {
      const row = data.slice(r * per, (r + 1) * per);
      rows.set(idx, row);
      if (cachedFloats + row.length <= budget) {
        cache.set(idx, row);
        cachedFloats += row.length;
      }
    });
    return rows;
  };
  return {
    size: a.size,
    failed,
    async batch(indices: number[]) {
      const want = indices.filter((i) => !failed.has(i));
      const need = want.filter((i) => !cache.has(i));
      let rows = new Map<number, Float32Array>();
      if (need.length) {
        const px = await a.loader(need);
        for (const f of px.failed) {
          failed.set(f.index, f.error);
          a.onFailed?.(f.index, f.error);
        }
        rows = rowsOf(px);
      }
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
