/**
 * AltCLIP inference (the seed's FlagAI altclip_inference.py): one image, three captions, their probabilities.
 *
 *   node examples/dist/inference.js MODEL_DIR [IMAGE] [--text "a dog" --text ...]
 *
 * Without IMAGE it scores a sneaker from the Fashion-MNIST subset shipped in datasets/. Unlike the seed's
 * README, probabilities come from normalised features scaled by exp(logit_scale), as HF AltCLIPModel does.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { loadImage, imageFromPixels, DecodedImage } from '@altclip/image';
import { readFashionMnist } from '@altclip/data';
import { textFeatures, normalizeRows } from '@altclip/eval';
import { loadModelBundle } from '@altclip/models';
import { parseArgs, runIfMain } from './args';

export async function main(argv: string[]): Promise<{ image: string; texts: string[]; probs: number[] }> {
  const { positional } = parseArgs(argv);
  const [modelDir, imagePath] = positional;
  if (!modelDir) throw new Error('usage: node examples/dist/inference.js MODEL_DIR [IMAGE] [--text T ...]');
  await setupBackend({});
  const { model, tokenizer, processor, dispose } = await loadModelBundle(modelDir);
  try {
    let image: DecodedImage;
    let name: string;
    let texts = ['a photo of a bag', 'a photo of a sneaker', 'a photo of a dress'];
    if (imagePath) {
      image = await loadImage(imagePath);
      name = imagePath;
      texts = ['a rat', 'a dog', 'a man']; // the seed's captions for its dog.jpeg
    } else {
      const fm = readFashionMnist(undefined, 'test'); // $FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist or datasets/
      const idx = fm.labels.indexOf(7); // first "Sneaker"
      const px = await fm.getImage(idx);
      image = imageFromPixels(px.data, px.width, px.height, px.channels);
      name = `fashion-mnist test #${idx} (Sneaker)`;
    }
    const given = argv.filter((_, i) => argv[i - 1] === '--text');
    if (given.length) texts = given;

    const txt = textFeatures(model, tokenizer, texts);
    const d = txt[0].length;
    const T = normalizeRows(Float32Array.from(txt.flatMap((r) => Array.from(r))), texts.length, d);
    const probs = tf.tidy(() => {
      const f = model.getImageFeatures(tf.tensor4d(processor.process(image), [1, ...processor.outputShape])); // [1, D]
      const fi = tf.div(f, tf.norm(f, 'euclidean', 1, true));
      const logits = tf.mul(tf.matMul(fi, tf.tensor2d(T, [texts.length, d]), false, true), tf.exp(model.logitScale)); // [1, T]
      return Array.from(tf.softmax(logits, -1).dataSync());
    });
    console.log(`image: ${name}`);
    texts.forEach((t, i) => console.log(`  ${probs[i].toFixed(4)}  ${t}`));
    return { image: name, texts, probs };
  } finally {
    dispose();
  }
}

runIfMain(module, main);
