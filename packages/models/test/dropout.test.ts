/**
 * dropout(): the values and gradients of tf.dropout for the same random draws, holding less for the backward pass
 * (a bool mask instead of tf.dropout's input and float multiplier).
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { dropout } from '../src';

function withRandom<T>(seed: number, f: () => T): T {
  const orig = Math.random;
  let s = seed;
  Math.random = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  try {
    return f();
  } finally {
    Math.random = orig;
  }
}

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
