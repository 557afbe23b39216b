/**
 * Native kernels (wasm heap + OpenBLAS) against tfjs's stock `cpu` backend on the same inputs (and a float64
 * reference for matmul): matmul in every
 * transpose/batch/broadcast form, fused bias/activation, reductions, softmax, elementwise ops, gradients through
 * tf.grads, and the fused AdamW step. Skipped, saying why, when the addon is not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, backendInfo } from '@altclip/backend';
import { nativeStatus, registerNativeKernels, unregisterNativeKernels, NATIVE_KERNEL_NAMES, broadcastIndex, broadcastPlan } from '@altclip/native';
import { MatMulCase, matMulCase, on, rand, refMatMul, relErr, size } from './helpers';

const status = nativeStatus();
const describeNative = status.available ? describe : describe.skip;
if (!status.available) {
  // One clear line in the test output instead of a silent skip.
  test.skip(`native addon not available, native parity tests skipped: ${status.why}`, () => undefined);
}

type Case = MatMulCase;
const mk = matMulCase;
const CASES: Case[] = [];
for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as Array<[boolean, boolean]>) {
  CASES.push(mk([], [], 7, 5, 3, tA, tB)); // 2-D, odd sizes
  CASES.push(mk([], [], 1, 9, 1, tA, tB)); // vector-like
  CASES.push(mk([3], [3], 6, 5, 4, tA, tB)); // batch on both sides
  CASES.push(mk([4], [], 7, 5, 6, tA, tB)); // batch only on a
  CASES.push(mk([], [4], 7, 5, 6, tA, tB)); // batch only on b
  CASES.push(mk([1], [4], 3, 2, 5, tA, tB)); // batch-1 a against batched b
  CASES.push(mk([2, 3], [3], 5, 4, 3, tA, tB)); // rank-4 a, rank-3 b broadcast
  CASES.push(mk([2, 1], [1, 3], 3, 5, 2, tA, tB)); // both broadcast: 2x3 output batch
  CASES.push(mk([12], [12], 64, 64, 33, tA, tB)); // attention-sized batch: spread over the thread pool
  CASES.push(mk([], [], 130, 97, 71, tA, tB)); // large enough for OpenBLAS's own threads
}

describeNative('native kernels on wasm vs the cpu backend', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend: 'wasm' });
  });

  test('setupBackend registers every native kernel on wasm and backendInfo reports it', () => {
    expect(nativeStatus().kernels.sort()).toEqual([...NATIVE_KERNEL_NAMES].sort());
    const info = backendInfo();
    expect(info.native.active).toBe(true);
    expect(info.native.note).toMatch(nativeStatus().gemm === 'builtin' ? /^active: built-in SGEMM/ : /^active: OpenBLAS/);
  });

  test('broadcastPlan merges contiguous dims and marks broadcast ones with stride 0', () => {
    const p = broadcastPlan([512, 768], [768], [512, 768]);
    expect([Array.from(p.dims), Array.from(p.as), Array.from(p.bs)]).toEqual([[512, 768], [768, 1], [0, 1]]);
    const q = broadcastPlan([2, 3, 4], [2, 3, 4], [2, 3, 4]);
    expect([Array.from(q.dims), Array.from(q.as), Array.from(q.bs)]).toEqual([[24], [1], [1]]);
  });

  test('broadcastIndex maps output batches to operand batches right-aligned', () => {
    expect(Array.from(broadcastIndex([2, 3], [3]))).toEqual([0, 1, 2, 0, 1, 2]);
    expect(Array.from(broadcastIndex([2, 3], [2, 1]))).toEqual([0, 0, 0, 1, 1, 1]);
  });

  test.each(CASES.map((c, i) => [`${JSON.stringify(c.a)}${c.tA ? 'T' : ''} x ${JSON.stringify(c.b)}${c.tB ? 'T' : ''}`, c, i] as const))(
    'BatchMatMul %s',
    async (_n, c, i) => {
      const a = rand(size(c.a), 100 + i);
      const b = rand(size(c.b), 200 + i);
      const f = () => tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.tA, c.tB);
      await tf.setBackend('wasm');
      const ids = tf.engine().backend.numDataIds();
      const [w] = await on('wasm', f);
      expect(tf.engine().backend.numDataIds()).toBe(ids);
      const ref = refMatMul(a, c.a, b, c.b, c.tA, c.tB);
      expect(w.shape).toEqual(ref.shape);
      expect(relErr(w.v, ref.v)).toBeLessThan(1e-5);
      const [cpu] = await on('cpu', f);
      // tfjs's cpu kernel mis-sizes the output when both operands broadcast; compare with it everywhere else
      if (cpu.v.length === ref.v.length) expect(relErr(w.v, cpu.v)).toBeLessThan(1e-5);
    },
  );

  test.each([
    ['linear', false, false, [5]],
    ['relu', false, true, [5]],
    ['relu6', true, false, [1]],
    ['sigmoid', true, true, [5]],
    ['elu', false, false, []],
    ['leakyrelu', false, true, [5]],
  ] as const)('_FusedMatMul %s (transposeA %s, transposeB %s, bias %j)', async (activation, tA, tB, biasShape) => {
    const aShape = [2, ...(tA ? [6, 4] : [4, 6])];
    const bShape = tB ? [5, 6] : [6, 5];
    const a = rand(size(aShape), 1, -3, 3);
    const b = rand(size(bShape), 2);
    const bias = rand(size([...biasShape]), 3);
    const f = () =>
      tf.fused.matMul({ a: tf.tensor(a, aShape), b: tf.tensor(b, bShape), transposeA: tA, transposeB: tB, bias: tf.tensor(bias, [...biasShape]), activation, leakyreluAlpha: 0.1 });
    const [w] = await on('wasm', f);
    const [cpu] = await on('cpu', f);
    expect(w.shape).toEqual(cpu.shape);
    expect(relErr(w.v, cpu.v)).toBeLessThan(1e-5);
  });

  const RED: Array<[string, number[], number | number[] | undefined, boolean]> = [
    ['leading axis (bias gradient)', [37, 19], 0, false],
    ['last axis', [7, 333], -1, true],
    ['middle axis', [3, 17, 5], 1, false],
    ['two leading axes', [4, 9, 31], [0, 1], false],
    ['all axes', [6, 7, 8], undefined, false],
    ['size-1 dims around', [1, 5, 1, 6], [1, 2], true],
    ['non-contiguous axes (fallback)', [3, 4, 5], [0, 2], false],
  ];
  test.each(RED)('Sum/Mean/Max over %s', async (_n, shape, axis, keepDims) => {
    const x = rand(size(shape), 7, -2, 2);
    const f = () => {
      const t = tf.tensor(x, shape);
      return [tf.sum(t, axis, keepDims), tf.mean(t, axis, keepDims), tf.max(t, axis, keepDims)];
    };
    const w = await on('wasm', f);
    const cpu = await on('cpu', f);
    for (let k = 0; k < 3; k++) {
      expect(w[k].shape).toEqual(cpu[k].shape);
      expect(relErr(w[k].v, cpu[k].v)).toBeLessThan(1e-5);
    }
  });

  test('int32 Sum falls back to the kernel underneath', async () => {
    const f = () => tf.sum(tf.tensor([[1, 2, 3], [4, 5, 6]], [2, 3], 'int32'), 0);
    const [w] = await on('wasm', f);
    expect(Array.from(w.v)).toEqual([5, 7, 9]);
  });

  test('Softmax over the last axis, with -1e9 padding masks', async () => {
    const shape = [2, 3, 5, 67];
    const x = rand(size(shape), 11, -8, 8);
    for (let i = 60; i < x.length; i += 67) x[i] = -1e9; // masked key positions
    const f = () => tf.softmax(tf.tensor(x, shape));
    const [w] = await on('wasm', f);
    const [cpu] = await on('cpu', f);
    expect(relErr(w.v, cpu.v)).toBeLessThan(1e-6);
    expect(w.v[60]).toBe(0);
  });

  test.each([
    ['exp', (t: tf.Tensor) => tf.exp(t), -20, 20, 2e-6],
    ['erf', (t: tf.Tensor) => tf.erf(t), -4, 4, 1e-6],
    ['sigmoid', (t: tf.Tensor) => tf.sigmoid(t), -30, 30, 1e-6],
    ['sqrt', (t: tf.Tensor) => tf.sqrt(t), 0, 50, 1e-6],
    ['rsqrt', (t: tf.Tensor) => tf.rsqrt(t), 0.01, 50, 1e-6],
    ['square', (t: tf.Tensor) => tf.square(t), -9, 9, 1e-6],
  ] as const)('%s elementwise (odd length, large enough to be split across threads)', async (_n, op, lo, hi, tol) => {
    const x = rand(100003, 5, lo, hi);
    const f = () => op(tf.tensor(x));
    const [w] = await on('wasm', f);
    const [cpu] = await on('cpu', f);
    // exp is compared relative to each value (values span e^-20 .. e^20)
    if (_n === 'exp') {
      let m = 0;
      for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(w.v[i] - cpu.v[i]) / cpu.v[i]);
      expect(m).toBeLessThan(tol);
    } else expect(relErr(w.v, cpu.v)).toBeLessThan(tol);
  });

  test('exp gives exact 0 and inf at the float32 limits, and passes NaN', async () => {
    const [w] = await on('wasm', () => tf.exp(tf.tensor([-1e9, -104, 0, 89, 1e9, NaN])));
    expect(Array.from(w.v)).toEqual([0, 0, 1, Infinity, Infinity, NaN]);
  });

  const BIN: Array<[number[], number[]]> = [
    [[37, 19], [37, 19]], // same shape
    [[512, 33], [33]], // bias add
    [[7, 1, 9], [5, 1]], // both broadcast -> [7, 5, 9]
    [[4, 6, 1], [4, 1, 5]], // column against row
    [[3, 5], []], // scalar
    [[], [2, 3]],
    [[2, 1, 3, 1], [1, 4, 1, 6]],
  ];
  test.each(BIN)('Add/Sub/Multiply/RealDiv/SquaredDifference/Maximum/Minimum %j with %j', async (aShape, bShape) => {
    const a = rand(size(aShape), 51, -2, 2);
    const b = rand(size(bShape), 52, 0.5, 2);
    const f = () => {
      const [x, y] = [tf.tensor(a, aShape), tf.tensor(b, bShape)];
      return [tf.add(x, y), tf.sub(x, y), tf.mul(x, y), tf.div(x, y), tf.squaredDifference(x, y), tf.maximum(x, y), tf.minimum(x, y), tf.neg(x)];
    };
    const w = await on('wasm', f);
    const cpu = await on('cpu', f);
    for (let k = 0; k < w.length; k++) {
      expect(w[k].shape).toEqual(cpu[k].shape);
      expect(relErr(w[k].v, cpu[k].v)).toBeLessThan(1e-6);
    }
  });

  test.each([
    [[50, 8], [7, 3], 0],
    [[4, 9, 5], [6], 1],
    [[3, 4, 11], [2, 2], 2],
  ] as Array<[number[], number[], number]>)('GatherV2 x %j indices %j axis %d', async (xShape, iShape, axis) => {
    const x = rand(size(xShape), 61);
    const idx = Int32Array.from({ length: size(iShape) }, (_, i) => (i * 7 + 3) % xShape[axis]);
    const f = () => tf.gather(tf.tensor(x, xShape), tf.tensor(idx, iShape, 'int32'), axis);
    const [w] = await on('wasm', f);
    const [cpu] = await on('cpu', f);
    expect(w.shape).toEqual(cpu.shape);
    expect(Array.from(w.v)).toEqual(Array.from(cpu.v));
  });

  test.each([
    [[2, 5, 3, 4], [0, 2, 1, 3]], // attention heads
    [[3, 4, 5], [1, 0, 2]],
    [[2, 3, 4, 5], [2, 0, 1, 3]],
    [[1, 3, 1, 4], [2, 0, 1, 3]], // size-1 dims
    [[3, 4, 5], [0, 1, 2]], // identity permutation: one copy
    [[3, 4, 5], [2, 1, 0]], // moves the last axis: the kernel underneath
  ] as Array<[number[], number[]]>)('Transpose %j by %j (float32 and int32)', async (shape, perm) => {
    const x = rand(size(shape), 71);
    const xi = Int32Array.from(x, (v) => Math.round(v * 1000));
    const f = () => [tf.transpose(tf.tensor(x, shape), perm), tf.transpose(tf.tensor(xi, shape, 'int32'), perm)];
    const w = await on('wasm', f);
    const cpu = await on('cpu', f);
    for (let k = 0; k < 2; k++) {
      expect(w[k].shape).toEqual(cpu[k].shape);
      expect(Array.from(w[k].v)).toEqual(Array.from(cpu[k].v));
    }
  });

  test('GatherV2 with an index out of range is reported, not read out of bounds', async () => {
    await tf.setBackend('wasm');
    expect(() => tf.tidy(() => tf.gather(tf.ones([4, 3]), tf.tensor([1, 9], [2], 'int32')).dataSync())).toThrow();
  });

  test('gradients of an attention + GELU + LayerNorm block through tf.grads match cpu', async () => {
    const [B, S, H, NH] = [2, 7, 12, 3];
    const dh = H / NH;
    const xs = rand(B * S * H, 21);
    const ws = [31, 32, 33, 34].map((s) => rand(H * H, s, -0.5, 0.5));
    const mask = new Float32Array(B * S).map((_, i) => (i % S < S - 2 || i < S ? 0 : -1e9));
    const f = () => {
      const [x, wq, wk, wv, w1] = [tf.tensor(xs, [B * S, H]), ...ws.map((w) => tf.tensor(w, [H, H]))];
      const g = tf.grads((x: tf.Tensor, wq: tf.Tensor, wk: tf.Tensor, wv: tf.Tensor, w1: tf.Tensor) => {
        const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, S, NH, dh]), [0, 2, 1, 3]);
        const q = heads(tf.matMul(x, wq));
        const k = heads(tf.matMul(x, wk));
        const v = heads(tf.matMul(x, wv));
        const p = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)), tf.tensor(mask, [B, 1, 1, S])));
        const ctx = tf.reshape(tf.transpose(tf.matMul(p, v), [0, 2, 1, 3]), [B * S, H]);
        const h = tf.matMul(ctx, w1, false, true);
        const gelu = tf.mul(tf.mul(h, 0.5), tf.add(1, tf.erf(tf.mul(h, Math.SQRT1_2))));
        const { mean, variance } = tf.moments(tf.add(x, gelu), -1, true);
        const ln = tf.mul(tf.sub(tf.add(x, gelu), mean), tf.rsqrt(tf.add(variance, 1e-5)));
        return tf.sum(tf.mul(ln, tf.sigmoid(ln)));
      });
      return g([x, wq, wk, wv, w1]);
    };
    const w = await on('wasm', f);
    const cpu = await on('cpu', f);
    for (let k = 0; k < w.length; k++) expect(relErr(w[k].v, cpu[k].v)).toBeLessThan(2e-5);
  });

  test('a kernel that allocated after the heap grew still reads the current heap', async () => {
    await tf.setBackend('wasm');
    const before = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
    const big = tf.zeros([Math.ceil(before / 4) + (64 << 18)]); // forces growth
    const a = rand(50 * 40, 3);
    const f = () => tf.matMul(tf.tensor(a, [50, 40]), tf.tensor(a, [50, 40]), true, false);
    const [w] = await on('wasm', f);
    big.dispose();
    const [cpu] = await on('cpu', f);
    expect(relErr(w.v, cpu.v)).toBeLessThan(1e-5);
  });

  test('unregisterNativeKernels restores the kernels underneath; registerNativeKernels puts them back', async () => {
    await tf.setBackend('wasm');
    const native = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
    unregisterNativeKernels();
    try {
      expect(nativeStatus().kernels).toEqual([]);
      expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).not.toBe(native);
      const a = rand(6 * 5, 9);
      const f = () => tf.matMul(tf.tensor(a, [6, 5]), tf.tensor(a, [6, 5]), false, true);
      const [w] = await on('wasm', f);
      const [cpu] = await on('cpu', f);
      expect(relErr(w.v, cpu.v)).toBeLessThan(1e-5);
    } finally {
      registerNativeKernels();
    }
    expect(nativeStatus().kernels.sort()).toEqual([...NATIVE_KERNEL_NAMES].sort());
  });
});
