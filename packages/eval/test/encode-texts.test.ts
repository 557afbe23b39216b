import * as tf from '@tensorflow/tfjs-core';
import { CLIPModel, getModelConfig } from '@altclip/models';
import { CLIPTokenizer } from '@altclip/tokenizers';
import { encodeTexts } from '@altclip/eval';
import { EVAL_BACKENDS, testBackend } from './helpers';

describe.each(EVAL_BACKENDS)('encodeTexts on %s', (backend) => {
  beforeAll(async () => {
    await testBackend(backend);
  });

  const TEXTS = ['a photo of a dark sneaker', 'a bag', 'a close-up photo of a light, striped pullover on a plain background'];

  test('CLIP encodings are cut to the longest caption, and the features do not change', async () => {
    const tok = await CLIPTokenizer.load();
    const model = new CLIPModel(getModelConfig('clip-demo-tiny'), { seed: 3 });
    try {
      const full = tok.encode(TEXTS, { contextLength: 32, truncate: true }); // rows of 32 ids, zero padded
      const longest = Math.max(...full.attentionMask.map((m) => m.reduce((a, b) => a + b, 0)));
      expect(longest).toBeLessThan(32);
      const { ids, mask } = encodeTexts(tok, TEXTS, 32);
      expect(ids.shape).toEqual([3, longest]);
      expect(mask.shape).toEqual([3, longest]);
      expect(Array.from(ids.dataSync())).toEqual(full.inputIds.flatMap((r) => r.slice(0, longest)));
      const cut = model.getTextFeatures(ids, mask);
      const padded = model.getTextFeatures(tf.tensor2d(full.inputIds, undefined, 'int32'), tf.tensor2d(full.attentionMask, undefined, 'int32'));
      const a = cut.dataSync();
      const b = padded.dataSync();
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-5 * (1 + Math.abs(b[i])));
      tf.dispose([ids, mask, cut, padded]);
    } finally {
      model.dispose();
    }
  });
});
