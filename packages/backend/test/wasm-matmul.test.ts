import * as tf from '@tensorflow/tfjs-core';
import { appliedPatches, unpatchKernels, patchKernels } from '@altclip/backend';
import { MatMulCase, finiteDiff, loadBackends, matMulCase, on, rand, refMatMul, relErr, size } from './helpers';

type Case = MatMulCase;
const mk = matMulCase;

const FLAGS: Array<[boolean, boolean]> = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
const CASES: Case[] = [];
for (const [tA, tB] of FLAGS) {
  CASES.push(mk([], [], 7, 5, 3, tA, tB)); // 2-D, odd sizes
  CASES.push(mk([], [], 1, 9, 1, tA, tB)); // vector-like
  CASES.push(mk([3], [3], 6, 5, 4, tA, tB)); // batched both (attention)
  CASES.push(mk([4], [], 7, 5, 6, tA, tB)); // batch only on a: folded into rows
  CASES.push(mk([], [4], 7, 5, 6, tA, tB)); // batch only on b: folded into columns
  CASES.push(mk([1], [4], 3, 2, 5, tA, tB)); // batch-1 a against batched b
  CASES.push(mk([2, 3], [3], 5, 4, 3, tA, tB)); // rank-4 a, rank-3 b broadcast
  CASES.push(mk([2, 1], [1, 3], 3, 5, 2, tA, tB)); // both broadcast: 2x3 output batch
  CASES.push(mk([2, 3], [2, 3], 4, 1, 5, tA, tB)); // K = 1
}

// These tests are about this package's TypeScript routing of wasm matmuls; with @altclip/native built (as in CI)
// its BLAS kernels would sit on top and answer instead (they have their own parity tests in packages/native).
process.env.ALTCLIP_NATIVE = '0';
beforeAll(loadBackends);

test('the wasm matmul patches are registered by setupBackend', () => {
  const names = appliedPatches().map((p) => `${p.backend}/${p.kernel}`);
  expect(names).toEqual(expect.arrayContaining(['wasm/BatchMatMul', 'wasm/_FusedMatMul']));
});

describe.each(CASES.map((c, i) => [`${JSON.stringify(c.a)}${c.tA ? 'ᵀ' : ''} x ${JSON.stringify(c.b)}${c.tB ? 'ᵀ' : ''}`, c, i] as const))(
  'BatchMatMul %s',
  (_name, c, i) => {
    const a = rand(size(c.a), 100 + i);
    const b = rand(size(c.b), 200 + i);
    test('patched wasm = patched cpu = float64 reference, no leaked buffers', async () => {
      const f = () => tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.tA, c.tB);
      await tf.setBackend('wasm');
      const idsBefore = tf.engine().backend.numDataIds();
      const [wasm] = await on('wasm', f);
      expect(tf.engine().backend.numDataIds()).toBe(idsBefore);
      const [cpu] = await on('cpu', f);
      const ref = refMatMul(a, c.a, b, c.b, c.tA, c.tB);
      await tf.setBackend('wasm');
      expect(tf.tidy(() => f().shape)).toEqual(ref.shape);
      expect(relErr(wasm, ref.data)).toBeLessThan(1e-5);
      // Stock cpu mis-indexes batches when both operands broadcast ([2,1] x [1,3]); the cpu patch (cpu-matmul.ts)
      // expands them first, so cpu agrees with the reference in every case.
      expect(relErr(cpu, ref.data)).toBeLessThan(1e-5);
    });
  },
);

test('tf.grad through batched/transposed matMul on wasm matches float64 finite differences', async () => {
  // Broadcast batch dims in the gradient are covered by gradient-fixes.test.ts (tfjs 4.22's own gradient threw).
  for (const [k, c] of [mk([2], [2], 3, 4, 2, false, true), mk([], [], 3, 4, 2, true, false), mk([3], [3], 2, 3, 4, true, true), mk([2], [2], 2, 3, 3, false, false)].entries()) {
    const a = rand(size(c.a), 300 + k);
    const b = rand(size(c.b), 400 + k);
    const outShape = refMatMul(a, c.a, b, c.b, c.tA, c.tB).shape;
    const w = rand(size(outShape), 500 + k); // loss = sum(w * (a @ b))
    const [ga, gb] = await on('wasm', () => {
      const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, c.tA, c.tB), tf.tensor(w, outShape))));
      return g([tf.tensor(a, c.a), tf.tensor(b, c.b)]);
    });
    const loss = (x: Float64Array, y: Float64Array) => refMatMul(x, c.a, y, c.b, c.tA, c.tB).data.reduce((s, v, i) => s + v * w[i], 0);
    const a64 = Float64Array.from(a);
    const b64 = Float64Array.from(b);
    expect(relErr(ga, finiteDiff((x) => loss(x, b64), a64))).toBeLessThan(1e-5);
    expect(relErr(gb, finiteDiff((y) => loss(a64, y), b64))).toBeLessThan(1e-5);
  }
});

describe('_FusedMatMul', () => {
  const shapes: Case[] = [mk([], [], 5, 4, 3, true, false), mk([3], [], 5, 4, 3, false, true), mk([3], [3], 4, 6, 5, true, true), mk([3], [1], 3, 2, 4, false, false)];
  for (const activation of ['linear', 'relu', 'elu'] as const) {
    test.each(shapes.map((c, i) => [i, c] as const))(`${activation} with bias, case %i: patched wasm = stock cpu`, async (i, c) => {
      const a = rand(size(c.a), 600 + i);
      const b = rand(size(c.b), 700 + i);
      const N = c.tB ? c.b[c.b.length - 2] : c.b[c.b.length - 1];
      const bias = rand(N, 800 + i);
      const f = () => tf.fused.matMul({ a: tf.tensor(a, c.a), b: tf.tensor(b, c.b), transposeA: c.tA, transposeB: c.tB, bias: tf.tensor1d(bias), activation });
      const [wasm] = await on('wasm', f);
      const [cpu] = await on('cpu', f);
      expect(relErr(wasm, cpu)).toBeLessThan(1e-5);
    });
  }
});

test('int32 matMul goes to the stock wasm kernel (which rejects it) instead of being miscomputed', async () => {
  await tf.setBackend('wasm');
  expect(() => tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]], [1, 2], 'int32'), tf.tensor2d([[3], [4]], [2, 1], 'int32')))).toThrow(/float32/);
});

test('unpatch/patch restores and re-applies the stock kernels', async () => {
  unpatchKernels();
  expect(appliedPatches()).toEqual([]);
  const c = mk([2], [2], 3, 4, 5, true, true);
  const a = rand(size(c.a), 1);
  const b = rand(size(c.b), 2);
  const f = () => tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.tA, c.tB);
  const [stock] = await on('wasm', f);
  patchKernels();
  const [patched] = await on('wasm', f);
  expect(appliedPatches().length).toBeGreaterThan(0);
  expect(relErr(patched, stock)).toBeLessThan(1e-5);
});
