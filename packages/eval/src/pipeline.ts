import * as tf from '@tensorflow/tfjs-core';
import { currentBackend, setupBackend, BackendName } from '@altclip/backend';
import { loadImage, DecodedImage } from '@altclip/image';
import { loadModelBundle, ModelBundle } from '@altclip/models';
import { normalizeRows } from './metrics';
import { textFeatures } from './model-types';
import { fillTemplate } from './templates';

/** An image file path, its encoded bytes (JPEG, PNG, ...), or an image already decoded by @altclip/image. */
export type ImageInput = string | Uint8Array | DecodedImage;

export interface LabelScore {
  label: string;
  score: number;
}

export interface ZeroShotOptions {
  /** How a label becomes a caption; `{}` (or `{c}`) stands for the label. Default HF's 'This is a photo of {}.' */
  hypothesisTemplate?: string;
}

/** The function zeroShotImageClassification returns; `bundle` is the opened model folder. */
export interface ZeroShotImageClassifier {
  (image: ImageInput, labels: string[], opts?: ZeroShotOptions): Promise<LabelScore[]>;
  (images: ImageInput[], labels: string[], opts?: ZeroShotOptions): Promise<LabelScore[][]>;
  bundle: ModelBundle;
  dispose(): void;
}

/** transformers' ZeroShotImageClassificationPipeline default (also transformers.js'). */
export const DEFAULT_HYPOTHESIS_TEMPLATE = 'This is a photo of {}.';

function isDecoded(x: ImageInput): x is DecodedImage {
  return typeof x === 'object' && !(x instanceof Uint8Array) && 'data' in x && 'width' in x;
}

async function decode(x: ImageInput, i: number): Promise<DecodedImage> {
  if (typeof x === 'string' || x instanceof Uint8Array) return loadImage(x, { name: `image ${i}` });
  if (isDecoded(x)) return x;
  throw new Error(`image ${i}: expected a file path, a Buffer/Uint8Array of an encoded image, or a decoded image`);
}

/**
 * Probabilities of each text for each image, as HF AltCLIPModel/CLIPModel compute logits_per_image:
 * softmax over texts of exp(logit_scale) * cos(image feature, text feature). Returns [images][texts].
 */
export function imageTextProbs(
  bundle: ModelBundle,
  images: DecodedImage[],
  texts: string[],
  onUnknownOnly?: (text: string) => void,
): { probs: number[][]; logits: number[][]; logitScale: number } {
  const { model, tokenizer, processor } = bundle;
  const txt = textFeatures(model, tokenizer, texts, { onUnknownOnly });
  const d = txt[0].length;
  const T = normalizeRows(Float32Array.from(txt.flatMap((r) => Array.from(r))), texts.length, d); // [T, D]
  const batch = processor.processBatch(images); // NCHW
  const logitScale = Math.exp(model.logitScale.dataSync()[0]);
  const [logits, probs] = tf.tidy(() => {
    const f = model.getImageFeatures(tf.tensor4d(batch.data, batch.shape)); // [I, D]
    const fi = tf.div(f, tf.maximum(tf.norm(f, 'euclidean', 1, true), 1e-12));
    const lg = tf.mul(tf.matMul(fi, tf.tensor2d(T, [texts.length, d]), false, true), logitScale); // [I, T]
    return [lg.arraySync() as number[][], tf.softmax(lg, -1).arraySync() as number[][]];
  });
  return { probs, logits, logitScale };
}

/**
 * A one-liner like transformers.js' pipeline('zero-shot-image-classification'): opens a model folder or hub id
 * (loadModelBundle; the best backend is set up first if none is), and returns `classify(image, labels, {hypothesisTemplate})` resolving to
 * `[{label, score}]` sorted by score (highest first; scores sum to 1). An array of images gives one list each.
 * Call `classify.dispose()` to free the model.
 */
export async function zeroShotImageClassification(
  modelDir: string,
  opts: ZeroShotOptions & { backend?: BackendName | 'auto' } = {},
): Promise<ZeroShotImageClassifier> {
  if (opts.backend || !currentBackend()) await setupBackend({ backend: opts.backend });
  const bundle = await loadModelBundle(modelDir);
  const classify = async (input: ImageInput | ImageInput[], labels: string[], call: ZeroShotOptions = {}) => {
    if (!Array.isArray(labels) || labels.length === 0) throw new Error('zero-shot classification: give at least one label');
    const template = call.hypothesisTemplate ?? opts.hypothesisTemplate ?? DEFAULT_HYPOTHESIS_TEMPLATE;
    const list = Array.isArray(input) ? input : [input];
    const images = await Promise.all(list.map((x, i) => decode(x, i)));
    const { probs } = imageTextProbs(bundle, images, labels.map((l) => fillTemplate(template, l)));
    const ranked = probs.map((p) => labels.map((label, k) => ({ label, score: p[k] })).sort((a, b) => b.score - a.score));
    return Array.isArray(input) ? ranked : ranked[0];
  };
  return Object.assign(classify, { bundle, dispose: () => bundle.dispose() }) as ZeroShotImageClassifier;
}
