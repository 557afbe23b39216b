import * as tf from '@tensorflow/tfjs-core';

/**
 * What evaluation needs from a model: the two feature functions of @altclip/models' ClipLikeModel (AltCLIPModel
 * and CLIPModel both fit). Structural, so stubs and other towers work too.
 */
export interface FeatureModel {
  config?: any;
  getTextFeatures(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, opts?: { training?: boolean }): tf.Tensor2D;
  getImageFeatures(pixelValues: tf.Tensor4D, opts?: { training?: boolean }): tf.Tensor2D;
  logitScale?: tf.Tensor;
}

/** @altclip/tokenizers' TextTokenizer: XLM-R takes maxLength/padding/truncation, CLIP contextLength/truncate. */
export interface TokenizerLike {
  encode(texts: string | string[], opts?: any): { inputIds: number[][]; attentionMask: number[][] };
}

/** Turns a decoded image into CHW float32 pixels (ImageProcessor.process). */
export interface ProcessorLike {
  process(img: { width: number; height: number; channels: number; data: Uint8Array }): Float32Array;
}

/** The longest token sequence the model's text tower accepts, capped at 77 (CLIP/FlagAI's max_length). */
export function textMaxLength(model: FeatureModel): number {
  const tc = model.config?.text_config ?? model.config?.textConfig ?? {};
  const maxPos = tc.max_position_embeddings ?? tc.maxPositionEmbeddings;
  if (typeof maxPos !== 'number') return 77;
  const isClip = (model.config?.model_type ?? model.config?.modelType) === 'clip';
  // XLM-R positions start at padding_idx + 1 = 2, so 2 rows are unusable.
  return Math.min(77, isClip ? maxPos : maxPos - 2);
}

/** The vision tower's input side length. */
export function imageSizeOf(model: FeatureModel): number {
  const vc = model.config?.vision_config ?? model.config?.visionConfig ?? {};
  return vc.image_size ?? vc.imageSize ?? 224;
}

/** Tokenises texts with options both tokenizer kinds understand; returns int32 tensors [B, L]. */
export function encodeTexts(tokenizer: TokenizerLike, texts: string[], maxLength: number): { ids: tf.Tensor2D; mask: tf.Tensor2D } {
  const enc = tokenizer.encode(texts, { maxLength, padding: 'longest', truncation: true, contextLength: maxLength, truncate: true });
  const b = enc.inputIds.length;
  const full = enc.inputIds[0]?.length ?? 0;
  // CLIP's tokenizer always pads to contextLength; columns that are padding in every row change no feature
  // (padding is masked, and CLIP's causal attention never looks past the EOS token), so they are dropped: the
  // text tower's cost grows with L, and short captions would otherwise pay for all of it.
  let l = 0;
  enc.attentionMask.forEach((m) => {
    for (let j = m.length - 1; j >= l; j--) if (m[j]) {
      l = j + 1;
      break;
    }
  });
  if (b > 0 && l === 0) l = full;
  const flatIds = new Int32Array(b * l);
  const flatMask = new Int32Array(b * l);
  enc.inputIds.forEach((row, i) => {
    if (row.length !== full) throw new Error(`tokenizer returned ragged rows (${row.length} vs ${full}); padding expected`);
    flatIds.set(row.length === l ? row : row.slice(0, l), i * l);
    flatMask.set(enc.attentionMask[i].length === l ? enc.attentionMask[i] : enc.attentionMask[i].slice(0, l), i * l);
  });
  return { ids: tf.tensor2d(flatIds, [b, l], 'int32'), mask: tf.tensor2d(flatMask, [b, l], 'int32') };
}

/** Text features [B, D] for a list of texts, in batches (raw, not normalised). */
export function textFeatures(model: FeatureModel, tokenizer: TokenizerLike, texts: string[], opts: { batchSize?: number; maxLength?: number } = {}): Float32Array[] {
  const bs = opts.batchSize ?? 64;
  const maxLength = opts.maxLength ?? textMaxLength(model);
  const out: Float32Array[] = [];
  for (let s = 0; s < texts.length; s += bs) {
    const { ids, mask } = encodeTexts(tokenizer, texts.slice(s, s + bs), maxLength);
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
