/**
 * valueAndGrads against tf.variableGrads: identical gradients on the tiny AltCLIP (contrastive loss through both
 * towers, padding_idx customGrad, every op of the models), no leaked tensors, and a lower memory peak (the point
 * of it) on the same computation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { AltCLIPModel, clipLoss, disposeOutput } from '@altclip/models';
import { fixture, maxAbsDiff } from '@altclip/test-utils';
import { valueAndGrads, variableGradsLean, withSeededRandom } from '../src'; // the first two re-exported from @altclip/backend

let model: AltCLIPModel;
let vars: tf.Variable[];
let ids: tf.Tensor2D, mask: tf.Tensor2D, pixels: tf.Tensor4D;

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
  model = await AltCLIPModel.fromPretrained(fixture('altclip-tiny'));
  vars = [...model.namedParameters().values()] as tf.Variable[];
  ids = tf.tensor2d([[0, 5, 6, 7, 2, 1], [0, 8, 9, 10, 11, 2]], undefined, 'int32');
  mask = tf.tensor2d([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], undefined, 'int32');
  const s = model.config.vision_config.image_size;
  pixels = tf.randomNormal([2, 3, s, s], 0, 1, 'float32', 7) as tf.Tensor4D;
});
afterAll(() => {
  tf.dispose([ids, mask, pixels]);
  model?.dispose();
});

const loss = () => clipLoss(model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels }).logitsPerText as tf.Tensor2D);

test('same loss and gradients as tf.variableGrads for every parameter', () => {
  const ref = tf.variableGrads(loss, vars);
  const lean = variableGradsLean(loss, vars);
  expect(lean.value.dataSync()[0]).toBe(ref.value.dataSync()[0]);
  expect(Object.keys(lean.grads).sort()).toEqual(Object.keys(ref.grads).sort());
  expect(Object.keys(lean.grads).length).toBeGreaterThan(50);
  for (const [k, g] of Object.entries(ref.grads)) expect({ k, d: maxAbsDiff(lean.grads[k].dataSync(), g.dataSync()) }).toEqual({ k, d: 0 });
  tf.dispose([ref.value, lean.value, ...Object.values(ref.grads), ...Object.values(lean.grads)]);
});

test('leaves no tensors behind, and holds less memory at its peak than tf.variableGrads', async () => {
  const before = tf.memory().numTensors;
  const peak = async (f: () => { value: tf.Scalar; grads: tf.NamedTensorMap }) => {
    let out!: { value: tf.Scalar; grads: tf.NamedTensorMap };
    const p = await tf.profile(() => {
      out = f();
      return [];
    });
    tf.dispose([out.value, ...Object.values(out.grads)]);
    return p.peakBytes;
  };
  const ref = await peak(() => tf.variableGrads(loss, vars));
  const lean = await peak(() => variableGradsLean(loss, vars));
  expect(tf.memory().numTensors).toBe(before);
  console.log(`peak bytes during a gradient computation: tf.variableGrads ${ref}, valueAndGrads ${lean}`);
  expect(lean).toBeLessThan(ref * 0.9);
});

test('xs that y does not depend on get null; no connection at all is an error naming it', () => {
  const a = tf.variable(tf.scalar(2));
  const b = tf.variable(tf.scalar(3));
  const { value, grads } = valueAndGrads(() => tf.mul(a, a) as tf.Scalar, [a, b]);
  expect(value.dataSync()[0]).toBe(4);
  expect(grads[0]!.dataSync()[0]).toBe(4);
  expect(grads[1]).toBeNull();
  expect(() => valueAndGrads(() => tf.scalar(1), [a])).toThrow(/Cannot find a connection/);
  tf.dispose([value, grads[0]!, a, b]);
});

describe('activation checkpointing (--grad-checkpointing)', () => {
  // dropout on: the recomputation must see the masks of the first run
  const trainLoss = () => clipLoss(model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels, training: true }).logitsPerText as tf.Tensor2D);
  const seeded = <T>(f: () => T) => withSeededRandom(1234, f);

  test('same loss and gradients as without it, dropout included, on both gradient paths', () => {
    const ref = seeded(() => variableGradsLean(trainLoss, vars));
    model.gradientCheckpointingEnable();
    try {
      const before = tf.memory().numTensors;
      for (const run of [() => variableGradsLean(trainLoss, vars), () => tf.variableGrads(trainLoss, vars)]) {
        const ck = seeded(run);
        expect(ck.value.dataSync()[0]).toBeCloseTo(ref.value.dataSync()[0], 6);
        expect(Object.keys(ck.grads).sort()).toEqual(Object.keys(ref.grads).sort());
        for (const [k, g] of Object.entries(ref.grads)) {
          const scale = Math.max(1e-6, ...Array.from(g.dataSync(), Math.abs));
          expect({ k, d: maxAbsDiff(ck.grads[k].dataSync(), g.dataSync()) / scale < 1e-5 }).toEqual({ k, d: true });
        }
        tf.dispose([ck.value, ...Object.values(ck.grads)]);
        expect(tf.memory().numTensors).toBe(before);
      }
    } finally {
      model.gradientCheckpointingEnable(false);
    }
    tf.dispose([ref.value, ...Object.values(ref.grads)]);
  });

  test('the tape keeps one tensor per layer instead of every intermediate: fewer live bytes after the forward pass', () => {
    // Bytes alive at the end of the forward pass = what the backward pass will hold on to.
    const heldAfterForward = (on: boolean) => {
      model.gradientCheckpointingEnable(on);
      let held = 0;
      const f = () => {
        const l = trainLoss();
        held = tf.memory().numBytes;
        return l;
      };
      const base = tf.memory().numBytes;
      const r = seeded(() => variableGradsLean(f, vars));
      tf.dispose([r.value, ...Object.values(r.grads)]);
      model.gradientCheckpointingEnable(false);
      return held - base;
    };
    const plain = heldAfterForward(false);
    const ck = heldAfterForward(true);
    console.log(`bytes held after the forward pass: ${plain} without checkpointing, ${ck} with`);
    expect(ck).toBeLessThan(plain * 0.7);
  });

  test('outside a gradient computation it is the plain function', () => {
    model.gradientCheckpointingEnable();
    const a = model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels });
    model.gradientCheckpointingEnable(false);
    const b = model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels });
    expect(maxAbsDiff(a.logitsPerText.dataSync(), b.logitsPerText.dataSync())).toBe(0);
    disposeOutput(a);
    disposeOutput(b);
  });
});

test('onGrad: each parameter once, with its final gradient, in the order the backward pass finishes them', () => {
  const seen: Array<{ i: number; values: Float32Array }> = [];
  const { value, grads } = valueAndGrads(loss, vars, { onGrad: (i, g) => seen.push({ i, values: Float32Array.from(g.dataSync()) }) });
  expect(seen.length).toBe(grads.filter((g) => g).length);
  expect(new Set(seen.map((s) => s.i)).size).toBe(seen.length);
  for (const s of seen) expect(maxAbsDiff(s.values, grads[s.i]!.dataSync())).toBe(0);
  // The patch embedding is read first in the vision tower, so its gradient is final after all the tower's others;
  // the projection after the tower is final long before (what lets data-parallel training reduce gradients early).
  const p = model.namedParameters();
  const order = seen.map((s) => vars[s.i]);
  expect(order.indexOf(p.get('visual_projection.weight') as tf.Variable)).toBeLessThan(order.indexOf(p.get('vision_model.embeddings.patch_embedding.weight') as tf.Variable));
  tf.dispose([value, ...grads.filter((g): g is tf.Tensor => !!g)]);
});

test('onGrad waits for every use of a parameter read several times', () => {
  const w = tf.variable(tf.tensor1d([0.5, -1, 2]), true, `w_twice_${Math.random()}`);
  const x = tf.tensor1d([1, 2, 3]);
  const got: number[][] = [];
  const f = () => tf.add(tf.sum(tf.mul(w, x)), tf.sum(tf.mul(tf.square(w), x))) as tf.Scalar; // d/dw = x + 2 w x
  const { value, grads } = valueAndGrads(f, [w], { onGrad: (_, g) => got.push(Array.from(g.dataSync())) });
  expect(got).toEqual([[1 + 2 * 0.5 * 1, 2 + 2 * -1 * 2, 3 + 2 * 2 * 3]]);
  tf.dispose([value, grads[0]!, w, x]);
});
