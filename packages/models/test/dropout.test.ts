/**
 * dropout(): the values and gradients of tf.dropout for the same random draws, holding less for the backward pass
 * (a bool mask instead of tf.dropout's input and float multiplier); under withDropoutKeys, masks per sample that do
 * not depend on which other samples share the batch, nor on the padded sequence length.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { dropout, withDropoutKeys } from '../src';
import { withRandom } from './helpers';


beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

test.each([0.1, 0.5, 0.9])('rate %p: same values and gradient as tf.dropout for the same draws', (rate) => {
  const x = tf.randomNormal([7, 33, 5], 0, 1, 'float32', 3);
  const w = tf.randomNormal([7, 33, 5], 0, 1, 'float32', 4);
  const run = (drop: (t: tf.Tensor) => tf.Tensor) =>
    withRandom(42, () => {
      const y = drop(x);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(drop(t), w)))(x);
      return { y: Array.from(y.dataSync()), g: Array.from(g.dataSync()) };
    });
  const ours = run((t) => dropout(t, rate, true));
  const ref = run((t) => tf.dropout(t, rate));
  expect(ours.y).toEqual(ref.y);
  expect(ours.g).toEqual(ref.g);
  const zeros = ours.y.filter((v) => v === 0).length / ours.y.length;
  expect(Math.abs(zeros - rate)).toBeLessThan(0.08);
  expect(dropout(x, rate, false)).toBe(x);
});

test('the backward pass holds a bool mask, not the input and a float multiplier', async () => {
  const x = tf.randomNormal([64, 1024], 0, 1, 'float32', 5);
  const peak = async (drop: (t: tf.Tensor) => tf.Tensor) => {
    const info = await tf.profile(() => {
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(drop(tf.mul(t, 2)))))(x);
      g.dispose();
      return [];
    });
    return info.peakBytes;
  };
  const ours = await peak((t) => dropout(t, 0.1, true));
  const ref = await peak((t) => tf.dropout(t, 0.1));
  expect(ours).toBeLessThan(ref);
});

/** The native backend draws the mask in C++ (AltclipDropout): same semantics, no JS random number per element. */
describe('native dropout kernel', () => {
  const { nativeStatus } = require('@altclip/native') as typeof import('@altclip/native');
  const maybe = nativeStatus().available ? test : test.skip;
  maybe('keeps each element with probability 1 - rate, scales kept ones by 1/(1 - rate), the gradient follows the mask, and a seed fixes the mask', async () => {
    await setupBackend({ backend: 'native' });
    try {
      expect(tf.getKernel('AltclipDropout', 'native')).toBeDefined();
      const n = 50000;
      const x = tf.randomNormal([n], 0, 1, 'float32', 7);
      const xv = x.dataSync();
      for (const rate of [0.1, 0.5]) {
        // Each call draws its seed from Math.random: the same seed gives the forward and (separately) the gradient.
        const y = (seed: number) => withRandom(seed, () => dropout(x, rate, true).dataSync());
        const g = (seed: number) => withRandom(seed, () => tf.grad((t: tf.Tensor) => tf.sum(dropout(t, rate, true)))(x).dataSync());
        const a = y(42), ga = g(42);
        let dropped = 0, wrong = 0;
        for (let i = 0; i < n; i++) {
          if (a[i] === 0 && xv[i] !== 0) dropped++;
          else if (Math.abs(a[i] - xv[i] / (1 - rate)) > 1e-6 * Math.abs(a[i])) wrong++;
          // d sum(dropout(x)) / dx = keep / (1 - rate), the forward's mask
          if (Math.abs(ga[i] - (a[i] === 0 && xv[i] !== 0 ? 0 : 1 / (1 - rate))) > 1e-5) wrong++;
        }
        expect(wrong).toBe(0);
        // Binomial: 5 standard deviations of the dropped fraction.
        expect(Math.abs(dropped / n - rate)).toBeLessThan(5 * Math.sqrt((rate * (1 - rate)) / n));
        expect(Array.from(y(42).subarray(0, 1000))).toEqual(Array.from(a.subarray(0, 1000)));
        expect(Array.from(y(43).subarray(0, 1000))).not.toEqual(Array.from(a.subarray(0, 1000)));
      }
      x.dispose();
    } finally {
      await setupBackend({ backend: 'cpu' });
    }
  });
});

/** dropout(ones) under `keys` with Math.random seeded by `seed`: the kept values (1 / keep) and zeros. */
function masked(shape: number[], keys: number[], rate: number, seed = 9): Float32Array {
  return withRandom(seed, () => withDropoutKeys(keys, () => tf.tidy(() => dropout(tf.ones(shape), rate, true).dataSync() as Float32Array)));
}

test('per-sample keys: a sample keeps its mask whatever batch it is in, at any padded length', () => {
  const [L, H] = [6, 8];
  const big = masked([4, 3, L, L], [11, 12, 13, 14], 0.3); // [B, heads, Lq, Lk] as attention probabilities
  const alone = masked([1, 3, L, L], [13], 0.3);
  expect(Array.from(alone)).toEqual(Array.from(big.subarray(2 * 3 * L * L, 3 * 3 * L * L)));
  // The same sample padded to 4 instead of 6: every position < 4 has the same draw.
  const short = masked([1, 3, 4, 4], [13], 0.3);
  for (let h = 0; h < 3; h++) for (let q = 0; q < 4; q++) for (let k = 0; k < 4; k++) expect(short[(h * 4 + q) * 4 + k]).toBe(alone[(h * L + q) * L + k]);
  // [B*L, H] rows (a flattened batch) read as [B, L, H].
  const flat = masked([4 * L, H], [11, 12, 13, 14], 0.3);
  expect(Array.from(masked([L, H], [13], 0.3))).toEqual(Array.from(flat.subarray(2 * L * H, 3 * L * H)));
  // Another key, or another draw of the call (another step), gives another mask.
  expect(Array.from(masked([1, 3, L, L], [15], 0.3))).not.toEqual(Array.from(alone));
  expect(Array.from(masked([1, 3, L, L], [13], 0.3, 10))).not.toEqual(Array.from(alone));
});

test.each([0.1, 0.5])('per-sample keys, rate %p: the drop rate, the 1/keep scaling and the gradient through the same mask', (rate) => {
  const y = masked([16, 64, 32], Array.from({ length: 16 }, (_, i) => 100 + i), rate);
  const zeros = y.filter((v) => v === 0).length / y.length;
  expect(Math.abs(zeros - rate)).toBeLessThan(0.01);
  expect(y.every((v) => v === 0 || Math.abs(v - 1 / (1 - rate)) < 1e-6)).toBe(true);
  const x = tf.randomNormal([16, 64, 32], 0, 1, 'float32', 3);
  const keys = Array.from({ length: 16 }, (_, i) => 100 + i);
  const g = withRandom(9, () => withDropoutKeys(keys, () => tf.grad((t: tf.Tensor) => tf.sum(dropout(t, rate, true)))(x)));
  expect(Array.from(g.dataSync())).toEqual(Array.from(y));
  expect(() => withDropoutKeys([1, 2, 3], () => dropout(tf.ones([4, 2]), 0.5, true))).toThrow(/axis 0 must hold the batch/);
  tf.dispose([x, g]);
});
