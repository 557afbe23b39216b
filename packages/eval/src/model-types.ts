import * as tf from '@tensorflow/tfjs-core';
import { encodeTexts, TokenizerLike } from '@altclip/data';
import { textMaxLength } from '@altclip/models';

/**
 * What evaluation needs from a model: the two feature functions of @altclip/models' ClipLikeModel (AltCLIPModel
 * and CLIPModel both fit). Structural, so stubs and other towers work too.
 */
export interface FeatureModel {
  config?: { model_type?: string; text_config?: { max_position_embeddings?: number }; vision_config?: { image_size?: number } };
  getTextFeatures(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, opts?: { training?: boolean }): tf.Tensor2D;
  getImageFeatures(pixelValues: tf.Tensor4D, opts?: { training?: boolean }): tf.Tensor2D;
  logitScale?: tf.Tensor;
}

/** Text features [B, D] for a list of texts, in batches (raw, not normalised). */
export function textFeatures(
  model: FeatureModel,
  tokenizer: TokenizerLike,
  texts: string[],
  opts: { batchSize?: number; maxLength?: number; onUnknownOnly?: (text: string) => void } = {},
): Float32Array[] {
  const bs = opts.batchSize ?? 64;
  const maxLength = opts.maxLength ?? textMaxLength(model.config);
  const out: Float32Array[] = [];
  for (let s = 0; s < texts.length; s += bs) {
    const { ids, mask } = encodeTexts(tokenizer, texts.slice(s, s + bs), maxLength, opts.onUnknownOnly);
    try {
      const f = model.getTextFeatures(ids, mask);
      const data = f.dataSync() as Float32Array;
      const d = f.shape[1];
      f.dispose();
      for (let r = 0; r < f.shape[0]; r++) out.push(data.slice(r * d, (r + 1) * d));
    } finally {
      ids.dispose();
      mask.dispose();
    }
  }
  return out;
}
