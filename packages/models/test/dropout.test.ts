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
