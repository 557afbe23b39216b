/**
 * Gradient parity with PyTorch on fixtures/altclip-tiny/grads_full.safetensors: the gradient of EVERY parameter
 * listed there, for distillation variant A (student text tower only) and the contrastive loss (whole model),
 * including torch's zero gradient for the padding_idx rows of the word and position embeddings (done by the
 * model's embedding op, so plain tf.variableGrads gives it). Also: no tensor leaks in a training step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { TensorData } from '@altclip/checkpoint';
import { fixture } from '@altclip/test-utils';
import { AltCLIPModel, clipLoss, distillationLoss } from '@altclip/models';
import { BACKENDS, expectClose, gradTol, ids2D, isKeyBias, readAll, tensorOf } from './helpers';

const DIR = fixture('altclip-tiny');

describe.each(BACKENDS)('AltCLIP gradients on %s', (backend) => {
  let io: Map<string, TensorData>;
  let grads: Map<string, TensorData>;
  let model: AltCLIPModel;
  let ids: tf.Tensor2D, mask: tf.Tensor2D, pixels: tf.Tensor4D;
  beforeAll(async () => {
    await setupBackend({ backend });
    io = await readAll(`${DIR}/io.safetensors`);
    grads = await readAll(`${DIR}/grads_full.safetensors`);
    model = await AltCLIPModel.fromPretrained(DIR);
    ids = ids2D(io.get('input.input_ids')!);
    mask = ids2D(io.get('input.attention_mask')!);
    pixels = tensorOf(io.get('input.pixel_values')!) as tf.Tensor4D;
  });
  afterAll(() => {
    model?.dispose();
    tf.dispose([ids, mask, pixels]);
  });

  const losses: Record<string, (m: AltCLIPModel) => tf.Scalar> = {
    'distill.A': (m) => {
      const target = tensorOf(io.get('distill.target.teacher_text_embeds')!);
      return distillationLoss(m.textFeaturesForDistillation(ids, mask), target);
    },
    contrastive: (m) => clipLoss(m.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels }).logitsPerText),
  };

  test.each(Object.keys(losses))('%s: gradient of every parameter in grads_full.safetensors', (variant) => {
    const params = model.namedParameters();
    const { value, grads: g } = tf.variableGrads(() => losses[variant](model), [...params.values()]);
    const byKey = new Map<string, tf.Tensor>();
    for (const [k, v] of params) if (g[v.name]) byKey.set(k, g[v.name]);
    const prefix = `${variant}.grad.`;
    const refNames = [...grads.keys()].filter((n) => n.startsWith(prefix));
    expect(refNames.length).toBeGreaterThan(0);
    let worst = { name: '', rel: 0 };
    for (const name of refNames) {
      const key = name.slice(prefix.length);
      const ref = grads.get(name)!;
      const actual = byKey.get(key);
      if (!actual) throw new Error(`${name}: the model has no gradient for parameter ${key}`);
      const d = expectClose(name, actual, ref, isKeyBias(key) ? () => 1e-6 : gradTol);
      const m = Math.max(...Array.from(ref.data as Float32Array, Math.abs));
      if (!isKeyBias(key) && m > 0 && d / m > worst.rel) worst = { name, rel: d / m };
    }
    // Parameters that get a gradient here but are absent from the fixture must be exactly the ones torch leaves
    // without one (none for contrastive; the vision tower and projections for distillation).
    for (const [key, t] of byKey) {
      if (!grads.has(prefix + key)) expect({ key, maxAbs: Math.max(...Array.from(t.dataSync(), Math.abs)) }).toEqual({ key, maxAbs: 0 });
    }
    console.log(`[${backend}] ${variant}: ${refNames.length} gradients, loss ${value.dataSync()[0]}, worst max|diff|/max|ref| ${worst.rel.toExponential(2)} (${worst.name})`);
    tf.dispose([value, ...Object.values(g)]);
  });

  test('padding rows (padding_idx) of word and position embeddings get exactly zero gradient', () => {
    const pad = model.config.text_config.pad_token_id;
    const params = model.namedParameters();
    // ids contain pad tokens (right padding), so a plain gather gradient would be non-zero on row `pad`.
    expect(Array.from(ids.dataSync()).includes(pad)).toBe(true);
    const { value, grads: g } = tf.variableGrads(() => losses.contrastive(model), [...params.values()]);
    for (const key of ['text_model.roberta.embeddings.word_embeddings.weight', 'text_model.roberta.embeddings.position_embeddings.weight']) {
      const grad = g[params.get(key)!.name];
      const H = grad.shape[1]!;
      const row = grad.dataSync().slice(pad * H, (pad + 1) * H);
      expect(Array.from(row).every((x) => x === 0)).toBe(true);
      const ref = grads.get(`contrastive.grad.${key}`);
      if (ref) expect(Array.from(ref.data.slice(pad * H, (pad + 1) * H)).every((x) => x === 0)).toBe(true);
    }
    tf.dispose([value, ...Object.values(g)]);
  });

  test('no tensor leaks in a training step (variableGrads + SGD update)', () => {
    const params = model.namedParameters();
    const before = tf.memory().numTensors;
    const { value, grads: g } = tf.variableGrads(() => losses.contrastive(model), [...params.values()]);
    tf.tidy(() => {
      for (const v of params.values()) if (g[v.name]) v.assign(tf.sub(v, tf.mul(g[v.name], 0)));
    });
    tf.dispose([value, ...Object.values(g)]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
