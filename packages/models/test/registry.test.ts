/** configs/models registry and seeded random init. */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { openSafetensors } from '@altclip/checkpoint';
import { fixture } from '@altclip/test-utils';
import { AltCLIPConfig, altclipSpecs, AltCLIPModel, CLIPConfig, CLIPModel, clipLoss, countParams, getModelConfig, listModels } from '@altclip/models';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

test('listModels() names the shipped configs with parameter counts', () => {
  const models = listModels();
  const names = models.map((m) => m.name);
  for (const n of ['altclip-tiny', 'altclip-small', 'altclip-large', 'clip-demo-tiny']) expect(names).toContain(n);
  for (const m of models) expect(m.parameters).toBeGreaterThan(0);
  expect(getModelConfig('clip-demo-tiny').model_type).toBe('clip');
  expect(() => getModelConfig('no-such-model')).toThrow(/available: .*altclip-tiny/);
});

test('altclip-large has exactly the key set and shapes of BAAI/AltCLIP (altclip_real_keys.json)', () => {
  const real = JSON.parse(fs.readFileSync(fixture('altclip_real_keys.json'), 'utf8'));
  const specs = altclipSpecs(getModelConfig('altclip-large') as AltCLIPConfig);
  const ours = new Map(specs.map((s) => [s.name, s.shape]));
  const theirs = new Map<string, number[]>(real.keys.map((k: any) => [k.name, k.shape]));
  expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
  for (const [k, shape] of theirs) expect({ k, shape: ours.get(k) }).toEqual({ k, shape });
  expect(countParams(specs)).toBe(real.num_parameters);
  expect(listModels().find((m) => m.name === 'altclip-large')!.parameters).toBe(real.num_parameters);
});

test('altclip-tiny has the shapes of the altclip-tiny fixture', async () => {
  const r = await openSafetensors(fixture('altclip-tiny', 'model.safetensors'));
  const specs = altclipSpecs(getModelConfig('altclip-tiny') as AltCLIPConfig);
  expect(specs.map((s) => s.name).sort()).toEqual(r.keys().sort());
  for (const s of specs) expect({ k: s.name, shape: s.shape }).toEqual({ k: s.name, shape: r.info(s.name).shape });
  await r.close();
});

test('random init is seeded (same seed = same weights), HF-style: LN ones/zeros, zero biases, zero padding rows', async () => {
  const cfg = getModelConfig('altclip-tiny');
  const a = new AltCLIPModel(cfg, { seed: 5 });
  const b = new AltCLIPModel(cfg, { seed: 5 });
  const c = new AltCLIPModel(cfg, { seed: 6 });
  const pa = a.namedParameters();
  const pb = b.namedParameters();
  const pc = c.namedParameters();
  let differs = 0;
  for (const [k, v] of pa) {
    const x = v.dataSync();
    expect({ k, same: Array.from(x).every((e, i) => e === pb.get(k)!.dataSync()[i]) }).toEqual({ k, same: true });
    if (Array.from(x).some((e, i) => e !== pc.get(k)!.dataSync()[i])) differs++;
    if (/(LayerNorm|layer_norm\d?|pre_LN|layrnorm|layernorm)\.weight$/.test(k)) expect(Array.from(x).every((e) => e === 1)).toBe(true);
    if (/\.bias$/.test(k)) expect(Array.from(x).every((e) => e === 0)).toBe(true);
  }
  expect(differs).toBeGreaterThan(0);
  const H = a.config.text_config.hidden_size;
  const pad = a.config.text_config.pad_token_id;
  for (const k of ['text_model.roberta.embeddings.word_embeddings.weight', 'text_model.roberta.embeddings.position_embeddings.weight']) {
    const row = pa.get(k)!.dataSync().slice(pad * H, (pad + 1) * H);
    expect(Array.from(row).every((e) => e === 0)).toBe(true);
  }
  // the std follows initializer_range
  const w = pa.get('text_model.roberta.embeddings.word_embeddings.weight')!.dataSync();
  const std = Math.sqrt(w.reduce((s, e) => s + e * e, 0) / (w.length - H));
  expect(Math.abs(std - a.config.text_config.initializer_range) / a.config.text_config.initializer_range).toBeLessThan(0.1);
  expect(a.logitScale.dataSync()[0]).toBeCloseTo(a.config.logit_scale_init_value, 6);
  for (const m of [a, b, c]) m.dispose();
});

test('CLIPModel (clip-demo-tiny shapes, smaller vocab to keep the test fast) builds, embeds and trains without leaks', () => {
  const cfg = getModelConfig('clip-demo-tiny') as CLIPConfig;
  const m = new CLIPModel({ ...cfg, text_config: { ...cfg.text_config, vocab_size: 1000 } }, { seed: 1 });
  const v = m.config.vision_config;
  const px = tf.randomNormal([2, v.num_channels, v.image_size, v.image_size]) as tf.Tensor4D;
  const ids = [[998, 320, 125, 999, 0], [998, 320, 999, 0, 0]];
  const mask = [[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]];
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => {
    const out = m.forward({ inputIds: ids, attentionMask: mask, pixelValues: px, training: true });
    return clipLoss(out.logitsPerText);
  });
  expect(Object.keys(grads).length).toBe(m.namedParameters().size);
  tf.dispose([value, ...Object.values(grads)]);
  expect(tf.memory().numTensors).toBe(before);
  const f = m.getTextFeatures(ids, mask);
  expect(f.shape).toEqual([2, m.config.projection_dim]);
  tf.dispose([f, px]);
  m.dispose();
});

test('{training: true} enables dropout (HF train mode); the default is eval and deterministic', () => {
  const m = new AltCLIPModel(getModelConfig('altclip-tiny'), { seed: 2 });
  const ids = [[0, 5, 6, 7, 2, 1]];
  const mask = [[1, 1, 1, 1, 1, 0]];
  const e1 = m.textFeaturesForDistillation(ids, mask);
  const e2 = m.textFeaturesForDistillation(ids, mask);
  const t1 = m.textFeaturesForDistillation(ids, mask, { training: true });
  expect(Array.from(e1.dataSync())).toEqual(Array.from(e2.dataSync()));
  expect(Array.from(t1.dataSync())).not.toEqual(Array.from(e1.dataSync()));
  tf.dispose([e1, e2, t1]);
  m.dispose();
});

test('token ids outside the vocabulary and over-long texts are clear errors', () => {
  const m = new AltCLIPModel(getModelConfig('altclip-tiny'), { seed: 2 });
  const V = m.config.text_config.vocab_size;
  expect(() => m.getTextFeatures([[0, V, 2]], [[1, 1, 1]])).toThrow(new RegExp(`token id ${V} .*outside the vocabulary`));
  const L = m.config.text_config.max_position_embeddings;
  const long = [Array(L).fill(5)];
  expect(() => m.getTextFeatures(long, [Array(L).fill(1)])).toThrow(/exceeds/);
  m.dispose();
});
