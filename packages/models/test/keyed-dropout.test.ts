/**
 * Dropout keyed per sample (withDropoutKeys) in the native kernels (@altclip/native csrc/keyed.h): AltclipDropout's
 * keyed masks equal the JS keyedKeepMask's (ops.ts, the path of every other backend) bit for bit, and the fused
 * attention kernel with keyed dropout gives the composed ops' output and q, k, v gradients on the cpu backend (JS
 * masks) for the same Math.random draws. Skipped, saying why, when the addon is not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { loadAddon } from '@altclip/native';
import { attention, dropout, setNativeDropout, withDropoutKeys } from '../src';
import { padBias, withRandom } from './helpers';
import { relErr } from '../../backend/test/helpers';

const { addon, why } = loadAddon();
const describeNative = addon ? describe : describe.skip;
if (!addon) test.skip(`native addon not available, keyed dropout kernel tests skipped: ${why}`, () => undefined);

const keysOf = (n: number, base = 0x9e370000) => Array.from({ length: n }, (_, i) => (base + 7919 * i) >>> 0);

/** dropout(x) under `keys` on the native backend, its kernels and the gradient of sum(dropout(x) * w). */
async function keyedRun(x: tf.Tensor, w: tf.Tensor, keys: number[], rate: number, nativeMasks: boolean) {
  setNativeDropout(nativeMasks);
  try {
    const f = (t: tf.Tensor) => withRandom(5, () => withDropoutKeys(keys, () => dropout(t, rate, true)));
    const y = f(x);
    const kernels = (await tf.profile(() => tf.tidy(() => f(x)))).kernelNames;
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), w)))(x);
    const r = { y: y.dataSync() as Float32Array, g: g.dataSync() as Float32Array, kernels };
    tf.dispose([y, g]);
    return r;
  } finally {
    setNativeDropout(true);
  }
}

describeNative('keyed dropout in the native kernels', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend: 'native' });
  });
  afterAll(async () => {
    await setupBackend({ backend: 'cpu' });
  });

  // [shape, keys]: attention probabilities [B, heads, Lq, Lk], flattened [B*L, H] rows, [B, L, H], rank 1 ([B*L]),
  // odd lengths, more rows than keys on axis 0, one sample.
  const SHAPES: Array<[number[], number]> = [[[4, 3, 13, 13], 4], [[4 * 7, 33], 4], [[3, 5, 17], 3], [[6 * 5], 3], [[2, 1], 2], [[1, 9, 64], 1], [[8, 2, 3, 5, 7], 2]];
  test.each(SHAPES.flatMap(([s, n]) => [0.1, 0.5].map((rate) => [JSON.stringify(s), n, rate, s] as const)))(
    'shape %s, %i keys, rate %p: the keep-mask, values and gradient of JS keyedKeepMask, bit for bit',
    async (_, n, rate, shape) => {
      await tf.setBackend('native');
      const x = tf.randomNormal(shape, 0, 1, 'float32', 3);
      const w = tf.randomNormal(shape, 0, 1, 'float32', 4);
      const keys = keysOf(n);
      const native = await keyedRun(x, w, keys, rate, true);
      const js = await keyedRun(x, w, keys, rate, false);
      expect(native.kernels).toContain('AltclipDropout');
      expect(js.kernels).not.toContain('AltclipDropout');
      const mask = (y: Float32Array, xs: Float32Array) => Array.from(y, (v, i) => (v !== 0 || xs[i] === 0 ? 1 : 0)).join('');
      const xv = x.dataSync() as Float32Array;
      expect(mask(native.y, xv)).toBe(mask(js.y, xv));
      expect(Array.from(native.y)).toEqual(Array.from(js.y));
      expect(Array.from(native.g)).toEqual(Array.from(js.g));
      if (x.size > 2000) {
        const dropped = Array.from(native.y).filter((v) => v === 0).length / x.size;
        expect(Math.abs(dropped - rate)).toBeLessThan(5 * Math.sqrt((rate * (1 - rate)) / x.size));
      }
      tf.dispose([x, w]);
    },
  );

  test('keys that do not divide axis 0: the JS path\'s error', async () => {
    await tf.setBackend('native');
    expect(() => withDropoutKeys([1, 2, 3], () => dropout(tf.ones([4, 2]), 0.5, true))).toThrow(/axis 0 must hold the batch/);
  });

  /** attention(q, k, v) with keyed dropout on `backend`: output and gradients of sum(out * w), Math.random seeded. */
  async function attentionRun(backend: string, data: Float32Array[], shapes: number[][], keys: number[], heads: number, bias: () => tf.Tensor | undefined) {
    await tf.setBackend(backend);
    const [q, k, v, w] = data.map((d, i) => tf.tensor(d, shapes[i]));
    const opts = { scaleQuery: false, dropout: 0.3, training: true };
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => withRandom(11, () => withDropoutKeys(keys, () => attention(a, b, c, heads, bias(), opts)));
    const out = f(q, k, v);
    const kernels = (await tf.profile(() => tf.tidy(() => f(q, k, v)))).kernelNames;
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a, b, c), w)))([q, k, v]);
    const r = { out: out.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array), kernels };
    tf.dispose([q, k, v, w, out, ...grads]);
    return r;
  }

  // [name, B, keys, Lq, Lk, heads, d, bias]
  const ATTENTION: Array<[string, number, number, number, number, number, number, () => tf.Tensor | undefined]> = [
    ['self-attention, padding mask, L=13 (odd), d=10', 3, 3, 13, 13, 2, 10, () => padBias([13, 7, 1], 13)],
    ['two rows per key (B=4, 2 keys), L=9, no mask', 4, 2, 9, 9, 3, 8, () => undefined],
    ['cross-attention Lq=5, Lk=70, one sample', 1, 1, 5, 70, 2, 16, () => undefined],
  ];
  test.each(ATTENTION)('attention with keyed dropout, %s: the fused kernel gives the composed ops\' output and gradients (cpu, JS masks)', async (_, B, n, Lq, Lk, heads, d, bias) => {
    const H = heads * d;
    const shapes = [[B, Lq, H], [B, Lk, H], [B, Lk, H], [B, Lq, H]];
    const data = shapes.map((s, i) => tf.tidy(() => tf.randomNormal(s, 0, 1, 'float32', 20 + i).dataSync() as Float32Array));
    const keys = keysOf(n, 12345);
    const ref = await attentionRun('cpu', data, shapes, keys, heads, bias);
    const got = await attentionRun('native', data, shapes, keys, heads, bias);
    expect(got.kernels).toContain('AltclipAttention');
    expect(got.kernels).not.toContain('AltclipDropout');
    expect(relErr(got.out, ref.out)).toBeLessThan(2e-5);
    got.grads.forEach((g, i) => {
      const e = relErr(g, ref.grads[i]);
      if (!(e < 2e-4)) throw new Error(`gradient of input ${'qkv'[i]} off by ${e.toExponential(2)}`);
    });
    // the masks matter: other keys (other masks) give another output
    const other = await attentionRun('native', data, shapes, keysOf(n, 777), heads, bias);
    expect(relErr(other.out, ref.out)).toBeGreaterThan(1e-2);
  });

  test('attention with keyed dropout: a sample\'s output does not depend on the other samples in its batch', async () => {
    await tf.setBackend('native');
    const [B, L, heads, d] = [4, 11, 2, 8];
    const xs = [0, 1, 2].map((i) => tf.randomNormal([B, L, heads * d], 0, 1, 'float32', 30 + i));
    const keys = keysOf(B, 99);
    const run = (ts: tf.Tensor[], ks: number[]) =>
      withRandom(3, () => withDropoutKeys(ks, () => attention(ts[0], ts[1], ts[2], heads, undefined, { scaleQuery: true, dropout: 0.2, training: true }))).dataSync();
    const all = run(xs, keys);
    const alone = run(xs.map((t) => tf.slice(t, [2, 0, 0], [1, L, heads * d])), [keys[2]]);
    expect(Array.from(alone)).toEqual(Array.from(all.subarray(2 * L * heads * d, 3 * L * heads * d)));
  });
});
