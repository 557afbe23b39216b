import * as path from 'path';
import type { CommandModule } from 'yargs';
import { loadImage } from '@altclip/image';
import { imageTextProbs } from '@altclip/eval';
import type { ModelBundle } from '@altclip/models';
import { backendOf, optionsFromArgv, withOptions } from '../options';
import { openModel, table, unknownTextWarning } from './inference-util';

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
  const decoded = await Promise.all(images.map((f) => loadImage(f)));
  const unknown = unknownTextWarning();
  const { probs, logits, logitScale } = imageTextProbs(bundle, decoded, texts, unknown.onUnknownOnly);
  unknown.flush();
  return { texts, logit_scale: logitScale, images: images.map((image, i) => ({ image, probs: probs[i], logits: logits[i] })) };
}

export const predictCommand: CommandModule = {
  command: 'predict',
  describe: 'Score images against texts (any language the model knows): softmax over the texts per image',
  builder: (y) => withOptions(y, 'predict'),
  handler: async (argv) => {
    const a = optionsFromArgv('predict', argv);
    const images = a.image!.map((p) => path.resolve(p));
    const texts = a.text!;
    const { bundle, precision } = await openModel(a.model!, backendOf(argv), a.precision);
    try {
      const r = await precision.autocast(() => predict(bundle, images, texts));
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
