import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { CommandModule } from 'yargs';
import { loadImage } from '@altclip/image';
import { ModelBundle, textFeatures, normalizeRows } from '@altclip/eval';
import { openModel, table } from './inference-util';

export interface PredictResult {
  texts: string[];
  logit_scale: number;
  images: { image: string; probs: number[]; logits: number[] }[];
}

/**
 * Probabilities of each text for each image: softmax over texts of exp(logit_scale) * cos(image, text), with
 * both features L2-normalised (HF AltCLIPModel.forward). Not the FlagAI README's raw dot products.
 */
export async function predict(bundle: ModelBundle, images: string[], texts: string[]): Promise<PredictResult> {
  const { model, tokenizer, processor } = bundle;
  const txt = textFeatures(model, tokenizer, texts);
  const d = txt[0].length;
  const T = normalizeRows(Float32Array.from(txt.flatMap((r) => Array.from(r))), texts.length, d);
  const decoded = await Promise.all(images.map((f) => loadImage(f)));
  const batch = processor.processBatch(decoded);
  const scale = Math.exp(model.logitScale.dataSync()[0]);
  const [logits, probs] = tf.tidy(() => {
    const f = model.getImageFeatures(tf.tensor4d(batch.data, batch.shape)); // [I, D]
    const fi = tf.div(f, tf.maximum(tf.norm(f, 'euclidean', 1, true), 1e-12));
    const lg = tf.mul(tf.matMul(fi, tf.tensor2d(T, [texts.length, d]), false, true), scale); // [I, T]
    return [lg.arraySync() as number[][], tf.softmax(lg, -1).arraySync() as number[][]];
  });
  return { texts, logit_scale: scale, images: images.map((image, i) => ({ image, probs: probs[i], logits: logits[i] })) };
}

export const predictCommand: CommandModule<any, any> = {
  command: 'predict',
  describe: 'Score images against texts (any language the model knows): softmax over the texts per image',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model folder or hub id (e.g. BAAI/AltCLIP)' })
      .option('image', { type: 'string', array: true, demandOption: true, describe: 'image file (repeatable)' })
      .option('text', { type: 'string', array: true, demandOption: true, describe: 'candidate text (repeatable), e.g. --text "一只猫" --text "a dog"' })
      .option('json', { type: 'boolean', describe: 'print JSON' }),
  handler: async (a) => {
    const images = (a.image as string[]).map((p) => path.resolve(p));
    const texts = a.text as string[];
    const { bundle } = await openModel(a.model, a.backend);
    try {
      const r = await predict(bundle, images, texts);
      if (a.json) {
        console.log(JSON.stringify(r, null, 2));
        return;
      }
      console.log(table(['image', ...texts], r.images.map((im) => [path.basename(im.image), ...im.probs.map((p) => p.toFixed(4))])));
      console.log(`(probabilities: softmax over the texts of ${r.logit_scale.toFixed(2)} x cosine similarity)`);
    } finally {
      bundle.dispose();
    }
  },
};
