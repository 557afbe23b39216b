import * as fs from 'fs';
import { fixture } from '@altclip/test-utils';
import { trainablePredicate, paddingRows, NO_DECAY_PATTERNS } from '../src';

// The 787 state-dict keys of the real BAAI/AltCLIP checkpoint.
const KEYS: string[] = JSON.parse(fs.readFileSync(fixture('altclip_real_keys.json'), 'utf8')).keys.map((k: { name: string }) => k.name);
const pick = (o: Parameters<typeof trainablePredicate>[1]) => {
  const p = trainablePredicate(KEYS, o);
  return KEYS.filter(p);
};

test('lock image (stage 2): every text key, text_projection and logit_scale train; no vision key does', () => {
  const t = pick({ lockImage: true });
  expect(t.some((k) => k.startsWith('vision_model.') || k.startsWith('visual_projection'))).toBe(false);
  expect(t.filter((k) => k.startsWith('text_model.')).length).toBe(KEYS.filter((k) => k.startsWith('text_model.')).length);
  expect(t).toContain('text_projection.weight');
  expect(t).toContain('logit_scale');
});

test('lock text with the last 2 layers unlocked: layers 22-23 and the head train, embeddings and layers 0-21 do not', () => {
  const t = new Set(pick({ lockText: true, unlockedTextLayers: 2 }));
  expect(t.has('text_model.roberta.encoder.layer.23.output.dense.weight')).toBe(true);
  expect(t.has('text_model.roberta.encoder.layer.22.attention.self.query.weight')).toBe(true);
  expect(t.has('text_model.roberta.encoder.layer.21.attention.self.query.weight')).toBe(false);
  expect(t.has('text_model.roberta.embeddings.word_embeddings.weight')).toBe(false);
  for (const k of ['text_model.pre_LN.weight', 'text_model.transformation.weight', 'text_projection.weight']) expect(t.has(k)).toBe(true);
  expect(t.has('vision_model.encoder.layers.0.mlp.fc1.weight')).toBe(true); // the image tower is not locked here
});

test('lock image with its last layer unlocked; freeze embeddings; freeze patterns', () => {
  const t = new Set(pick({ lockImage: true, unlockedImageLayers: 1, freezeEmbeddings: true, freeze: [/^logit_scale$/] }));
  expect(t.has('vision_model.encoder.layers.23.mlp.fc1.weight')).toBe(true);
  expect(t.has('vision_model.encoder.layers.22.mlp.fc1.weight')).toBe(false);
  expect(t.has('vision_model.post_layernorm.weight')).toBe(true);
  expect(t.has('visual_projection.weight')).toBe(true);
  expect(t.has('vision_model.embeddings.patch_embedding.weight')).toBe(false);
  expect(t.has('vision_model.pre_layrnorm.weight')).toBe(false);
  expect(t.has('text_model.roberta.embeddings.position_embeddings.weight')).toBe(false);
  expect(t.has('text_model.roberta.embeddings.LayerNorm.weight')).toBe(false);
  expect(t.has('logit_scale')).toBe(false);
  expect(t.has('text_model.roberta.encoder.layer.0.output.dense.weight')).toBe(true);
});

test('no-decay patterns: biases, every LayerNorm flavour, logit_scale; padding rows of XLM-R embeddings', () => {
  const noDecay = KEYS.filter((k) => NO_DECAY_PATTERNS.some((p) => p.test(k)));
  const ln = (k: string) => /(LayerNorm|layer_norm|layernorm|layrnorm|pre_LN)\.weight$/.test(k);
  expect(noDecay.filter((k) => !k.endsWith('.bias') && !ln(k))).toEqual(['logit_scale']);
  expect(noDecay).toContain('vision_model.pre_layrnorm.weight');
  expect(noDecay).toContain('text_model.pre_LN.weight');
  expect(noDecay).not.toContain('text_model.roberta.embeddings.word_embeddings.weight');
  expect(KEYS.filter((k) => ln(k) && !noDecay.includes(k))).toEqual([]);
  expect(paddingRows(KEYS, 1)).toEqual(new Map([
    ['text_model.roberta.embeddings.word_embeddings.weight', [1]],
    ['text_model.roberta.embeddings.position_embeddings.weight', [1]],
  ]));
});

describe('maskGradRows', () => {
  const tf = require('@tensorflow/tfjs-core') as typeof import('@tensorflow/tfjs-core');
  const { setupBackend } = require('@altclip/backend') as typeof import('@altclip/backend');
  const { maskGradRows } = require('../src') as typeof import('../src');
  const { BACKENDS } = require('../../models/test/helpers') as typeof import('../../models/test/helpers');
  test.each(BACKENDS.map((b) => [b]))('%s: zeroes exactly the listed rows (in place on native/wasm), leaves the others and other tensors', async (backend) => {
    await setupBackend({ backend });
    const g = tf.tensor2d(Array.from({ length: 12 }, (_, i) => i + 1), [4, 3]);
    const other = tf.tensor1d([1, 2, 3]);
    const grads = new Map([['emb', g], ['bias', other]]);
    const out = maskGradRows(grads, new Map([['emb', [1, 9]]])); // row 9 is out of range: ignored
    expect(Array.from(out.get('emb')!.dataSync())).toEqual([1, 2, 3, 0, 0, 0, 7, 8, 9, 10, 11, 12]);
    expect(out.get('bias')).toBe(other);
    if (out.get('emb') !== g) out.get('emb')!.dispose();
    tf.dispose([g, other]);
    await setupBackend({ backend: 'cpu' });
  });
});
