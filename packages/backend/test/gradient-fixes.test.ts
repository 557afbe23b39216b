/**
 * The tfjs 4.22 gradient bugs met so far, on every backend we ship (cpu, wasm, and native and tensorflow where built):
 * BatchMatMul with broadcast batch dims (forward shape and gradient) and StridedSlice's missing gradient; and Sum /
 * Mean, whose gradients are replaced (broadcast instead of a JS-filled ones tensor) and must give the same values.
 * References: the same matmul on explicitly tiled operands (Tile's gradient sums the copies back), and a JS
 * scatter of the output gradient to the positions the slice read.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, BackendName } from '../src';
import { maxAbsDiff, tensorflowIfAvailable } from '@altclip/test-utils';

let nativeBuilt = false;
try {
  nativeBuilt = !!(require('@altclip/native') as { loadAddon(): { addon: unknown } }).loadAddon().addon;
} catch {
  nativeBuilt = false;
}
const BACKENDS: BackendName[] = [...(nativeBuilt ? (['cpu', 'wasm', 'native'] as const) : (['cpu', 'wasm'] as const)), ...tensorflowIfAvailable('gradient fixes')];

describe.each(BACKENDS)('gradient fixes on %s', (backend) => {
  beforeAll(async () => {
    await setupBackend({ backend });
  });

  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[2, 1, 3, 4], [1, 5, 4, 2], false, false],
    [[3, 1, 4, 3], [1, 2, 2, 4], true, true],
    [[2, 1, 3, 4], [5, 2, 4], false, true],
    [[4, 3], [2, 3, 5], false, false],
    [[2, 1, 4, 3], [3, 4, 6], true, false],
  ];
  test.each(cases)('matMul %j x %j (tA %s, tB %s): shape and gradients equal the tiled computation', (aShape, bShape, tA, tB) => {
    const a = tf.randomNormal(aShape, 0, 1, 'float32', 1);
    const b = tf.randomNormal(bShape, 0, 1, 'float32', 2);
    const rank = Math.max(aShape.length, bShape.length);
    const pad = (s: number[]) => [...new Array(rank - s.length).fill(1), ...s];
    const ap = pad(aShape), bp = pad(bShape);
    const batch = ap.slice(0, -2).map((d, i) => Math.max(d, bp[i]));
    const tileOf = (s: number[]) => [...batch.map((d, i) => d / s[i]), 1, 1];
    const w = tf.randomNormal([...batch, tA ? aShape[aShape.length - 1] : aShape[aShape.length - 2], tB ? bShape[bShape.length - 2] : bShape[bShape.length - 1]], 0, 1, 'float32', 3);
    const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, tA, tB), w));
    const ref = (x: tf.Tensor, y: tf.Tensor) => f(tf.tile(tf.reshape(x, ap), tileOf(ap)), tf.tile(tf.reshape(y, bp), tileOf(bp)));
    expect(tf.matMul(a, b, tA, tB).shape).toEqual(w.shape);
    const [ga, gb] = tf.grads(f)([a, b]);
    const [ra, rb] = tf.grads(ref)([a, b]);
    expect(ga.shape).toEqual(aShape);
    expect(gb.shape).toEqual(bShape);
    expect(maxAbsDiff(ga.dataSync(), ra.dataSync())).toBeLessThan(1e-4);
    expect(maxAbsDiff(gb.dataSync(), rb.dataSync())).toBeLessThan(1e-4);
    tf.dispose([a, b, w, ga, gb, ra, rb]);
  });

  const reductions: Array<['sum' | 'mean', number[], number | number[] | undefined, boolean]> = [
    ['sum', [3, 4, 5], 1, false],
    ['mean', [3, 4, 5], -1, true],
    ['mean', [2, 3, 4], [0, 2], false],
    ['sum', [2, 3], undefined, false],
    ['mean', [6], 0, true],
  ];
  test.each(reductions)('%s of %j over axis %j (keepDims %s): gradient is dy spread over the reduced axes (/ count for mean)', (op, shape, axis, keepDims) => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 6);
    const reduce = (t: tf.Tensor) => (op === 'sum' ? tf.sum(t, axis, keepDims) : tf.mean(t, axis, keepDims));
    const w = tf.randomNormal(reduce(x).shape, 0, 1, 'float32', 7);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(reduce(t), w)))(x);
    // reference: input element i gets w at its position with the reduced axes dropped, divided by their size for mean
    const axes = axis === undefined ? shape.map((_, d) => d) : (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + shape.length : a));
    const count = axes.reduce((n, a) => n * shape[a], 1);
    const wv = w.dataSync();
    const expected = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) {
      let r = i, wi = 0, stride = 1;
      for (let d = shape.length - 1; d >= 0; d--) {
        const k = r % shape[d];
        r = Math.floor(r / shape[d]);
        if (!axes.includes(d)) {
          wi += k * stride;
          stride *= shape[d];
        }
      }
      expected[i] = op === 'mean' ? wv[wi] / count : wv[wi];
    }
    expect(g.shape).toEqual(shape);
    expect(g.dtype).toBe('float32');
    expect(maxAbsDiff(g.dataSync(), expected)).toBeLessThan(1e-7);
    tf.dispose([x, w, g]);
  });

  const slices: Array<[number[], number[], number[], number[]]> = [
    [[2, 4], [0, 1], [2, 3], [1, 1]],
    [[3, 7], [0, 1], [3, 7], [2, 3]],
    [[5, 6], [4, 5], [0, 0], [-1, -2]],
    [[4, 5, 3], [1, 0, 2], [4, 5, 3], [2, 2, 1]],
  ];
  test.each(slices)('stridedSlice of %j, begin %j end %j strides %j: gradient scatters dy to the read positions', (shape, begin, end, strides) => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 4);
    const y = tf.stridedSlice(x, begin, end, strides);
    const w = tf.randomNormal(y.shape, 0, 1, 'float32', 5);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.stridedSlice(t, begin, end, strides), w)))(x);
    // reference: walk the output positions, scatter w into the input positions they came from
    const expected = new Float32Array(x.size);
    const xStr = shape.map((_, d) => shape.slice(d + 1).reduce((p, q) => p * q, 1));
    const wv = w.dataSync();
    const counts = y.shape;
    for (let i = 0; i < wv.length; i++) {
      let r = i, off = 0;
      for (let d = counts.length - 1; d >= 0; d--) {
        const k = r % counts[d];
        r = Math.floor(r / counts[d]);
        off += (begin[d] + k * strides[d]) * xStr[d];
      }
      expected[off] += wv[i];
    }
    expect(g.shape).toEqual(shape);
    expect(maxAbsDiff(g.dataSync(), expected)).toBeLessThan(1e-6);
    tf.dispose([x, y, w, g]);
  });
});
