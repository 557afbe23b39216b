import * as tf from '@tensorflow/tfjs-core';
import { loadBackends, on, rand, relErr, size } from './helpers';

/**
 * Every op a transformer (XLM-R / CLIP ViT / losses) differentiates through must have its forward and gradient
 * kernels on wasm: each case runs tf.grads on wasm and on cpu and compares. A missing kernel makes tf.grads throw
 * "Kernel 'X' not registered for backend 'wasm'", which fails the case by name.
 */
interface GradCase {
  name: string;
  shapes: number[][];
  f: (...xs: tf.Tensor[]) => tf.Scalar;
}

const ids = () => tf.tensor1d([3, 0, 3, 5, 1, 5, 5], 'int32');
const w = (shape: number[], seed = 7) => tf.tensor(rand(size(shape), seed), shape);
/** Weighted sum: makes every output element matter, with distinct weights. */
const wsum = (t: tf.Tensor, seed = 7) => tf.sum(tf.mul(t, w(t.shape, seed)));

const layerNorm = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
};
const geluExact = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
const quickGelu = (x: tf.Tensor) => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));

const CASES: GradCase[] = [
  { name: 'gather (embedding lookup)', shapes: [[6, 4]], f: (t) => wsum(tf.gather(t, ids())) },
  { name: 'gather axis 1', shapes: [[3, 6, 2]], f: (t) => wsum(tf.gather(t, ids(), 1)) },
  { name: 'matMul batched, transposed', shapes: [[2, 3, 4], [2, 5, 4]], f: (a, b) => wsum(tf.matMul(a, b, false, true)) },
  {
    name: 'attention softmax(q kᵀ/√d + mask) v',
    shapes: [[2, 2, 3, 4], [2, 2, 3, 4], [2, 2, 3, 4]],
    f: (q, k, v) => {
      const mask = tf.tensor4d([0, 0, -1e9, 0, 0, 0], [2, 1, 1, 3]);
      const p = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), 2), mask));
      return wsum(tf.matMul(p, v));
    },
  },
  { name: 'layer norm (moments, sub, rsqrt, mul, add)', shapes: [[3, 5], [5], [5]], f: (x, g, b) => wsum(layerNorm(x, g, b)) },
  { name: 'exact GELU (erf)', shapes: [[4, 5]], f: (x) => wsum(geluExact(x)) },
  { name: 'quick GELU (sigmoid)', shapes: [[4, 5]], f: (x) => wsum(quickGelu(x)) },
  { name: 'tanh GELU, pow', shapes: [[4, 5]], f: (x) => wsum(tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(0.79788456, tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))))) },
  { name: 'exp, log, abs', shapes: [[3, 4]], f: (x) => wsum(tf.log(tf.add(tf.exp(x), tf.abs(x)))) },
  { name: 'logSumExp, logSoftmax', shapes: [[3, 4]], f: (x) => tf.add(wsum(tf.logSumExp(x, 1)), wsum(tf.logSoftmax(x), 3)) },
  {
    name: 'cross-entropy with oneHot labels and argMax',
    shapes: [[4, 6]],
    f: (x) => {
      const labels = tf.oneHot(tf.argMax(tf.mul(x, -1), 1), 6); // labels from the data, not differentiated
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.cast(labels, 'float32'), tf.logSoftmax(x)), 1)));
    },
  },
  { name: 'sum/mean over axes, keepDims', shapes: [[2, 3, 4]], f: (x) => tf.add(wsum(tf.sum(x, [0, 2], true)), wsum(tf.mean(x, 1), 5)) },
  // (tfjs 4.22 has no StridedSlice gradient; models use slice.)
  { name: 'slice, concat, split', shapes: [[4, 6]], f: (x) => {
      const [p, q] = tf.split(x, [2, 4], 1);
      return wsum(tf.concat([tf.slice(x, [1, 0], [2, 6]), tf.concat([q, p], 1)], 0));
    } },
  { name: 'transpose, reshape, expandDims, squeeze, tile', shapes: [[2, 3, 4]], f: (x) => wsum(tf.tile(tf.squeeze(tf.expandDims(tf.reshape(tf.transpose(x, [2, 0, 1]), [4, 6]), 0)), [2, 1])) },
  { name: 'broadcasting add/sub/mul/div', shapes: [[3, 1, 4], [5, 1], [4]], f: (a, b, c) => wsum(tf.div(tf.mul(tf.sub(tf.add(a, b), c), a), tf.add(tf.square(c), 1))) },
  { name: 'cumsum (position ids) and float cumsum', shapes: [[3, 5]], f: (x) => {
      // input ids (not differentiated) with padding id 1, as in XLM-R
      const mask = tf.cast(tf.notEqual(tf.tensor2d([[0, 5, 7, 2, 1], [0, 9, 2, 1, 1], [0, 2, 1, 1, 1]], [3, 5], 'int32'), 1), 'int32');
      const pos = tf.add(tf.mul(tf.cumsum(mask, 1), mask), tf.scalar(1, 'int32')); // RoBERTa create_position_ids_from_input_ids
      return tf.add(wsum(tf.gather(tf.reshape(x, [15]), tf.reshape(pos, [15]))), wsum(tf.cumsum(x, 1), 4));
    } },
  { name: 'where/select on greater/less masks, max, maximum, minimum', shapes: [[3, 4], [3, 4]], f: (a, b) => tf.add(wsum(tf.where(tf.logicalAnd(tf.greater(a, b), tf.less(b, 0.5)), a, tf.mul(b, 2))), tf.add(wsum(tf.max(a, 1)), wsum(tf.minimum(tf.maximum(a, b), 0.3), 9))) },
  { name: 'clipByValue, sqrt, square, relu, neg', shapes: [[3, 4]], f: (x) => wsum(tf.add(tf.sqrt(tf.add(tf.square(x), 1)), tf.neg(tf.relu(tf.clipByValue(x, -0.5, 0.5))))) },
  { name: 'L2 normalize (norm), logit scale exp, clip loss matmul', shapes: [[3, 4], [3, 4], []], f: (a, b, s) => {
      const n = (t: tf.Tensor) => tf.div(t, tf.norm(t, 'euclidean', -1, true));
      const logits = tf.mul(tf.exp(s), tf.matMul(n(a), n(b), false, true));
      const labels = tf.oneHot(tf.tensor1d([0, 1, 2], 'int32'), 3);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    } },
  { name: 'squaredDifference, mean (MSE)', shapes: [[3, 4], [3, 4]], f: (a, b) => tf.mean(tf.squaredDifference(a, b)) },
  { name: 'stack, unstack, pad', shapes: [[2, 3]], f: (x) => wsum(tf.pad(tf.stack(tf.unstack(x).reverse()), [[1, 0], [0, 2]])) },
  { name: 'conv2d (NHWC, stride 2, same) input and filter', shapes: [[2, 5, 5, 3], [3, 3, 3, 4]], f: (x, k) => wsum(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 2, 'same')) },
  { name: 'patch embedding as conv (kernel = stride)', shapes: [[1, 4, 4, 3], [2, 2, 3, 5]], f: (x, k) => wsum(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 2, 'valid')) },
  { name: 'softplus, log1p, sigmoid cross entropy', shapes: [[3, 4]], f: (x) => wsum(tf.add(tf.softplus(x), tf.log1p(tf.sigmoid(x)))) },
];

beforeAll(loadBackends);

test.each(CASES.map((c) => [c.name, c] as const))('tf.grads through %s: wasm = cpu', async (_n, c) => {
  const inputs = () => c.shapes.map((s, i) => tf.tensor(rand(size(s), 31 * (i + 1)), s));
  const run = () => {
    const xs = inputs();
    const { value, grads } = tf.valueAndGrads((...a: tf.Tensor[]) => c.f(...a))(xs);
    return [value, ...grads];
  };
  const wasm = await on('wasm', run);
  const cpu = await on('cpu', run);
  expect(wasm.length).toBe(cpu.length);
  for (let i = 0; i < cpu.length; i++) {
    expect(wasm[i].every(Number.isFinite)).toBe(true);
    expect(relErr(wasm[i], cpu[i])).toBeLessThan(2e-5);
  }
  // the gradient is not trivially zero (the case really differentiates something)
  expect(cpu.slice(1).some((g) => g.some((v) => v !== 0))).toBe(true);
});
