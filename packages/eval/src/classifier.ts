import * as tf from '@tensorflow/tfjs-core';
import { fillTemplate } from './templates';
import type { TokenizerLike } from '@altclip/data';
import { FeatureModel, textFeatures } from './model-types';

/**
 * The CLIP_benchmark zero-shot classifier: for each class, the text features of every template, each
 * L2-normalised, averaged, and normalised again. Returns W [D, C] (columns in classnames order); the caller
 * disposes it. Normalisation runs in float64 on the features (F.normalize semantics, eps 1e-12).
 */
export function zeroShotClassifier(
  model: FeatureModel,
  tokenizer: TokenizerLike,
  classnames: string[],
  templates: string[],
  opts: { batchSize?: number; maxLength?: number; onProgress?: (doneClasses: number, total: number) => void; onUnknownOnly?: (text: string) => void } = {},
): tf.Tensor2D {
  if (classnames.length === 0) throw new Error('zeroShotClassifier: no class names');
  if (templates.length === 0) throw new Error('zeroShotClassifier: no templates');
  const columns: Float64Array[] = [];
  classnames.forEach((name, k) => {
    const feats = textFeatures(model, tokenizer, templates.map((t) => fillTemplate(t, name)), opts);
    columns.push(classEmbedding(feats));
    opts.onProgress?.(k + 1, classnames.length);
  });
  return classifierFromColumns(columns);
}

/** normalize(mean_t(normalize(e_t))) for one class's template features. */
export function classEmbedding(feats: ArrayLike<number>[]): Float64Array {
  const d = feats[0].length;
  const acc = new Float64Array(d);
  for (const e of feats) {
    let s = 0;
    for (let i = 0; i < d; i++) s += e[i] * e[i];
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let i = 0; i < d; i++) acc[i] += e[i] * inv;
  }
  let s = 0;
  for (let i = 0; i < d; i++) {
    acc[i] /= feats.length;
    s += acc[i] * acc[i];
  }
  const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
  for (let i = 0; i < d; i++) acc[i] *= inv;
  return acc;
}

/** Stacks per-class columns into W [D, C]. */
export function classifierFromColumns(columns: ArrayLike<number>[]): tf.Tensor2D {
  const c = columns.length;
  const d = columns[0].length;
  const w = new Float32Array(d * c);
  columns.forEach((col, k) => {
    for (let i = 0; i < d; i++) w[i * c + k] = col[i];
  });
  return tf.tensor2d(w, [d, c]);
}

/** Zero-shot logits for a batch of raw image features: 100 * normalize(f) @ W  ([B, D] x [D, C] -> [B, C]). */
export function zeroShotLogits(imageFeatures: tf.Tensor2D, classifier: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const norm = tf.maximum(tf.norm(imageFeatures, 'euclidean', 1, true), 1e-12);
    return tf.mul(tf.matMul(tf.div(imageFeatures, norm), classifier), 100) as tf.Tensor2D;
  });
}
