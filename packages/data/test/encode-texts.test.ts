import * as tf from '@tensorflow/tfjs-core';
import { CLIPModel, getModelConfig } from '@altclip/models';
import { CLIPTokenizer } from '@altclip/tokenizers';
import { encodeTexts } from '@altclip/data';
import { setupBackend } from '@altclip/backend';

beforeAll(async () => {
  await setupBackend({ backend: (process.env.ALTCLIP_BACKEND as 'cpu' | undefined) ?? 'auto' });
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

test('texts that tokenize to nothing but <unk> are named; known words, empty texts and CLIP (no <unk>) are not', async () => {
  const { XLMRobertaTokenizer } = await import('@altclip/tokenizers');
  const { fixture } = await import('@altclip/test-utils');
  const xlmr = await XLMRobertaTokenizer.fromFile(fixture('xlmr', 'spm.model'));
  const unknownText = '\u0F40\u0F41\u0F42'; // Tibetan letters: not in the fixture's 4,000-piece vocabulary
  expect(xlmr.encode([unknownText], {}).inputIds[0]).toEqual([0, 6, xlmr.unkTokenId, 2]); // the premise: '▁', <unk>
  const named: string[] = [];
  const { ids, mask } = encodeTexts(xlmr, ['a photo of a cat', unknownText, '', `a ${unknownText}`], 16, (t) => named.push(t));
  expect(named).toEqual([unknownText]);
  tf.dispose([ids, mask]);
  const clip = await CLIPTokenizer.load();
  const clipNamed: string[] = [];
  tf.dispose(Object.values(encodeTexts(clip, [unknownText], 16, (t) => clipNamed.push(t))));
  expect(clipNamed).toEqual([]);
});
