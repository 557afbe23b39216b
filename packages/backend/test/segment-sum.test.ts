import * as tf from '@tensorflow/tfjs-core';
import { appliedPatches, patchKernels, unpatchKernels } from '@altclip/backend';
import { finiteDiff, loadBackends, on, rand, relErr, size } from './helpers';

beforeAll(loadBackends);

/** [x shape, segment ids, numSegments]; ids repeat, skip segments, and the last segments stay empty. */
const CASES: Array<[number[], number[], number]> = [
  [[7], [3, 0, 3, 5, 1, 5, 5], 8],
  [[5, 3], [2, 2, 0, 4, 2], 6],
  [[6, 2, 3], [1, 0, 1, 1, 5, 0], 7],
  [[9, 13], [8, 0, 8, 3, 3, 3, 7, 1, 0], 9],
];

test('the segment-sum patches are registered for wasm (added) and cpu (replaced)', () => {
  const p = appliedPatches().filter((k) => k.kernel === 'UnsortedSegmentSum');
  expect(p.map((k) => `${k.backend}:${k.replaces}`).sort()).toEqual(['cpu:true', 'wasm:false']);
});

test.each(CASES.map((c, i) => [JSON.stringify(c[0]), i, c] as const))('x %s: wasm and new cpu = stock cpu', async (_n, i, [shape, ids, n]) => {
  const x = rand(size(shape), 40 + i);
  const f = () => tf.unsortedSegmentSum(tf.tensor(x, shape), tf.tensor1d(ids, 'int32'), n);
  unpatchKernels();
  let stock: Float64Array;
  try {
    [stock] = await on('cpu', f);
  } finally {
    patchKernels();
  }
  const [cpu] = await on('cpu', f);
  const [wasm] = await on('wasm', f);
  expect(stock.length).toBe(n * (size(shape) / shape[0]));
  expect(relErr(cpu, stock)).toBeLessThan(1e-6);
  expect(relErr(wasm, stock)).toBeLessThan(1e-6);
  await tf.setBackend('wasm');
  expect(tf.tidy(() => f().shape)).toEqual([n, ...shape.slice(1)]);
});

test('int32 data keeps int32 and exact sums; ids outside [0, numSegments) are dropped', async () => {
  for (const be of ['cpu', 'wasm'] as const) {
    await tf.setBackend(be);
    const r = tf.unsortedSegmentSum(tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]], [4, 2], 'int32'), tf.tensor1d([1, -1, 1, 3], 'int32'), 3);
    expect(r.dtype).toBe('int32');
    expect(Array.from(r.dataSync())).toEqual([0, 0, 6, 8, 0, 0]);
    r.dispose();
  }
});

test('gather gradient (embedding table) on wasm and cpu matches float64 finite differences', async () => {
  const V = 6;
  const D = 3;
  const ids = [4, 0, 4, 2, 5, 4];
  const table = rand(V * D, 77);
  const w = rand(ids.length * D, 78);
  // loss = sum_i sum_j w[i, j] * table[ids[i], j]
  const loss = (t: Float64Array) => ids.reduce((s, id, i) => s + [...Array(D).keys()].reduce((a, j) => a + w[i * D + j] * t[id * D + j], 0), 0);
  const fd = finiteDiff(loss, Float64Array.from(table));
  for (const be of ['wasm', 'cpu'] as const) {
    const [g] = await on(be, () =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(ids, 'int32')), tf.tensor2d(w, [ids.length, D]))))(tf.tensor2d(table, [V, D])),
    );
    expect(relErr(g, fd)).toBeLessThan(1e-6);
  }
});

test('large vocabulary (8192 x 64, 512 ids) on cpu and wasm equals a float64 row sum', async () => {
  const V = 8192;
  const D = 64;
  const N = 512;
  const ids = Array.from(rand(N, 5), (u) => Math.floor(((u + 1) / 2) * V) % V);
  const x = rand(N * D, 6);
  const ref = new Float64Array(V * D);
  ids.forEach((id, i) => {
    for (let j = 0; j < D; j++) ref[id * D + j] += x[i * D + j];
  });
  for (const be of ['cpu', 'wasm'] as const) {
    const [r] = await on(be, () => tf.unsortedSegmentSum(tf.tensor2d(x, [N, D]), tf.tensor1d(ids, 'int32'), V));
    expect(relErr(r, ref)).toBeLessThan(1e-6);
  }
});
