/**
 * The native backend's elementwise/scan/index kernels (src/elementwise.ts) against tfjs's stock `cpu` backend on the
 * same inputs: random shapes with broadcasting, and the edge cases tfjs defines (NaN, +-Inf, -0, int32 wrap-around,
 * ties, out-of-range indices). Each case also asserts the native run used no fallback kernel, so the native code
 * is what was compared.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { fallbackKernelUse, loadAddon } from '../src';

const { addon, why } = loadAddon();
const maybe = addon ? describe : describe.skip;
if (!addon) console.log(`native elementwise tests skipped: ${why}`);

interface Result {
  shape: number[];
  dtype: string;
  values: ArrayLike<number>;
}

function runOn(backend: 'cpu' | 'native', f: () => tf.Tensor): Result {
  tf.setBackend(backend);
  fallbackKernelUse(true);
  const t = tf.tidy(f);
  const r = { shape: t.shape, dtype: t.dtype, values: t.dataSync() as ArrayLike<number> };
  t.dispose();
  if (backend === 'native') {
    const used = [...fallbackKernelUse(true).keys()];
    if (used.length) throw new Error(`native run fell back to the cpu kernels ${used.join(', ')}`);
  }
  return r;
}

/** Same shape, dtype and values (NaN matches NaN; -0 and 0 are told apart); `ulps` > 0 allows that many float32 ulps. */
function expectSame(name: string, f: () => tf.Tensor, ulps = 0): void {
  const ref = runOn('cpu', f);
  const got = runOn('native', f);
  expect({ name, shape: got.shape, dtype: got.dtype }).toEqual({ name, shape: ref.shape, dtype: ref.dtype });
  for (let i = 0; i < ref.values.length; i++) {
    const a = got.values[i];
    const b = ref.values[i];
    const ok = Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) || (ulps > 0 && Number.isFinite(b) && Math.abs(a - b) <= ulps * 2 ** -23 * Math.max(Math.abs(b), 2 ** -126));
    if (!ok) throw new Error(`${name}: element ${i} is ${a}, cpu gives ${b}`);
  }
}

/** Seeded uniform numbers in [lo, hi). */
function rand(n: number, seed: number, lo = -3, hi = 3): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return out;
}

const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 0.5, -0.5, 1.5, 2.5, -2.5, 1, -1, 1e-40, -1e-40, 3.4e38, -3.4e38, 1e-7];
/** Random floats with the special values planted at the start. */
function floats(shape: number[], seed: number, lo = -3, hi = 3): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = rand(n, seed, lo, hi);
  for (let i = 0; i < Math.min(n, SPECIAL.length); i++) v[i] = SPECIAL[i];
  return tf.tensor(v, shape);
}
function ints(shape: number[], seed: number, lo = -50, hi = 50): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Int32Array.from(rand(n, seed, lo, hi), Math.floor);
  const edge = [2147483647, -2147483648, 0, -1, 1, 65536, -65536];
  for (let i = 0; i < Math.min(n, edge.length); i++) v[i] = edge[i];
  return tf.tensor(v, shape, 'int32');
}
const bools = (shape: number[], seed: number) => tf.cast(tf.greater(tf.tensor(rand(shape.reduce((a, b) => a * b, 1), seed), shape), 0), 'bool');

const SHAPES = [[1], [7], [3, 5], [2, 3, 4]];
/** Over one parallel chunk of the memory-bound loops (csrc/elementwise.cc kGrain = 2^20 elements). */
const BIG = [(1 << 20) + 3];
/** [a, b] shape pairs that broadcast (both sides, scalars, size-1 dims). */
const PAIRS: Array<[number[], number[]]> = [
  [[2, 3, 4], [2, 3, 4]],
  [[2, 3, 4], [4]],
  [[4], [2, 3, 4]],
  [[2, 1, 4], [3, 1]],
  [[5], []],
  [[], [6]],
  [[1], [6]],
  [[3, 1, 5, 1], [1, 4, 1, 6]],
  [[30, 257], [257]],
];

maybe('native elementwise kernels vs the cpu backend', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend: 'native' });
  });

  test('Cast to the same dtype shares the data (no copy), as the cpu backend does; a real cast still converts', () => {
    const be = tf.backend() as unknown as { arenaStats(): { live: number } };
    const base = be.arenaStats().live;
    const n = 1 << 18; // large blocks: small ones come from shared slabs that `live` counts as a whole
    const x = tf.tidy(() => tf.tile(tf.tensor([1.5, -2, 3, 0.25], [4], 'float32'), [n / 4]));
    const live = be.arenaStats().live;
    const y = tf.cast(x, 'float32');
    expect(be.arenaStats().live).toBe(live);
    x.dispose();
    expect(Array.from(y.dataSync().slice(0, 4))).toEqual([1.5, -2, 3, 0.25]); // still alive after its source is gone
    const z = tf.cast(y, 'int32');
    expect(z.dtype).toBe('int32');
    expect(be.arenaStats().live).toBe(live + 4 * n);
    expect(Array.from(z.dataSync().slice(0, 4))).toEqual([1, -2, 3, 0]);
    tf.dispose([y, z]);
    expect(be.arenaStats().live).toBe(base); // the shared block was freed once, with its last holder
  });

  test('float32 unary ops on special values and every size class (incl. a parallel one)', () => {
    const ops: Record<string, [(x: tf.Tensor) => tf.Tensor, number]> = {
      abs: [(x) => tf.abs(x), 0],
      floor: [(x) => tf.floor(x), 0],
      ceil: [(x) => tf.ceil(x), 0],
      round: [(x) => tf.round(x), 0],
      log: [(x) => tf.log(x), 1],
      log1p: [(x) => tf.log1p(x), 1],
      step0: [(x) => tf.step(x), 0],
      step3: [(x) => tf.step(x, 0.3), 0],
      clip: [(x) => tf.clipByValue(x, -1.25, 2), 0],
      relu: [(x) => tf.relu(x), 0],
      reciprocal: [(x) => tf.reciprocal(x), 0],
      sign: [(x) => tf.sign(x), 0],
    };
    for (const [name, [op, ulps]] of Object.entries(ops))
      for (const [k, shape] of SHAPES.entries()) expectSame(`${name} [${shape}]`, () => op(floats(shape, 11 + k)), ulps);
    // the stock cpu kernels take ~1 s per million elements: one memory-bound op at the parallel size, log (which
    // splits at 2^15) at a smaller one
    expectSame(`floor [${BIG}]`, () => tf.floor(floats(BIG, 5)));
    expectSame('log [100003]', () => tf.log(floats([100003], 5)), 1);
    // tfjs rounds halves to even but turns -0.5 into +0
    expectSame('round halves', () => tf.round(tf.tensor([-3.5, -2.5, -1.5, -0.5, -0, 0.5, 1.5, 2.5, 8388607.5, -8388607.5])));
    // log near 1 and over a wide positive range
    expectSame('log positive', () => tf.log(tf.tensor(rand(5000, 3, 1e-30, 1e30))), 1);
  });

  test('int32 unary ops (abs wraps at -2^31 like tfjs)', () => {
    for (const [k, shape] of SHAPES.entries()) {
      expectSame(`abs int [${shape}]`, () => tf.abs(ints(shape, k)));
      expectSame(`relu int [${shape}]`, () => tf.relu(ints(shape, k)));
      expectSame(`sign int [${shape}]`, () => tf.sign(ints(shape, k)));
      expectSame(`clip int [${shape}]`, () => tf.clipByValue(ints(shape, k), -7, 20));
    }
  });

  test('pow: scalar exponents (exact shortcuts and general), tensor exponents, broadcasting', () => {
    for (const e of [2, 1, 0, 0.5, 3, -1, -2.5, NaN, Infinity, -Infinity])
      for (const [k, shape] of [...SHAPES, [40, 41]].entries()) expectSame(`pow [${shape}]^${e}`, () => tf.pow(floats(shape, k), tf.scalar(e)), e === 2 || e === 1 || e === 0 ? 0 : 1);
    expectSame('pow [100003]^3', () => tf.pow(floats([100003], 1), tf.scalar(3)), 1);
    expectSame('pow of +-1 by NaN/Inf (NaN in JS)', () => tf.pow(tf.tensor([1, -1, 1, -1, 1, 2]), tf.tensor([NaN, Infinity, -Infinity, -Infinity, 0, NaN])));
    expectSame('pow int exponent', () => tf.pow(floats([4, 5], 2), tf.scalar(2, 'int32')));
    for (const [a, b] of PAIRS) expectSame(`pow [${a}]^[${b}]`, () => tf.pow(floats(a, 5, 0, 3), floats(b, 6, -2, 2)), 1);
  });

  test('comparisons on float32, int32 and bool with broadcasting; logical and/or', () => {
    const cmps: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
      equal: tf.equal, notEqual: tf.notEqual, greater: tf.greater, greaterEqual: tf.greaterEqual, less: tf.less, lessEqual: tf.lessEqual,
    };
    for (const [name, op] of Object.entries(cmps))
      for (const [k, [a, b]] of PAIRS.entries()) {
        // small value ranges so equal elements occur
        expectSame(`${name} f32 [${a}] [${b}]`, () => op(tf.round(floats(a, k)), tf.round(floats(b, k + 50))));
        expectSame(`${name} i32 [${a}] [${b}]`, () => op(ints(a, k, -3, 3), ints(b, k + 50, -3, 3)));
        expectSame(`${name} bool [${a}] [${b}]`, () => op(bools(a, k), bools(b, k + 50)));
      }
    expectSame('notEqual int scalar (padding mask)', () => tf.notEqual(ints([4, 9], 1, 0, 3), 1));
    expectSame(`less f32 [${BIG}]`, () => tf.less(floats(BIG, 1), floats(BIG, 2)));
    for (const [k, [a, b]] of PAIRS.entries()) {
      expectSame(`and [${a}] [${b}]`, () => tf.logicalAnd(bools(a, k), bools(b, k + 9)));
      expectSame(`or [${a}] [${b}]`, () => tf.logicalOr(bools(a, k), bools(b, k + 9)));
    }
  });

  test('int32 add/sub/mul/max/min with broadcasting and wrap-around', () => {
    const ops: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = { add: tf.add, sub: tf.sub, mul: tf.mul, maximum: tf.maximum, minimum: tf.minimum };
    for (const [name, op] of Object.entries(ops))
      for (const [k, [a, b]] of PAIRS.entries()) expectSame(`${name} i32 [${a}] [${b}]`, () => op(ints(a, k, -1000, 1000), ints(b, k + 3, -1000, 1000)));
    // products that still fit a double exactly wrap like tfjs's Int32Array store
    expectSame('mul wraps', () => tf.mul(tf.tensor([65536, 46341, -46341, 2147483647], [4], 'int32'), tf.tensor([65536, 46341, 46341, 1], [4], 'int32')));
    // beyond 2^53 tfjs rounds the product in double first
    expectSame('mul of huge products', () => tf.mul(tf.tensor([2147483647, -2147483648, 2147483647, 123456789], [4], 'int32'), tf.tensor([2147483647, -2147483648, -2147483648, 987654321], [4], 'int32')));
    expectSame('add wraps', () => tf.add(tf.tensor([2147483647, -2147483648], [2], 'int32'), tf.tensor([1, -1], [2], 'int32')));
    // the float32 path is still the one NATIVE_KERNELS had
    for (const [a, b] of PAIRS) expectSame(`add f32 [${a}] [${b}]`, () => tf.add(floats(a, 1), floats(b, 2)));
  });

  test('cumsum along every axis, exclusive and reverse, float32 and int32 (incl. > 1024 inner lanes)', () => {
    for (const shape of [[7], [3, 4, 5], [2, 3, 1500], [3000, 2]])
      for (let axis = 0; axis < shape.length; axis++)
        for (const exclusive of [false, true])
          for (const reverse of [false, true]) {
            expectSame(`cumsum f32 [${shape}] axis ${axis} ex ${exclusive} rev ${reverse}`, () => tf.cumsum(tf.tensor(rand(shape.reduce((a, b) => a * b), axis + 1), shape), axis, exclusive, reverse));
            expectSame(`cumsum i32 [${shape}] axis ${axis} ex ${exclusive} rev ${reverse}`, () => tf.cumsum(ints(shape, axis), axis, exclusive, reverse));
          }
    expectSame('cumsum with NaN/Inf', () => tf.cumsum(floats([4, 6], 3), 1));
    // XLM-R position ids: cumsum(ids != pad) * (ids != pad) + pad
    expectSame('position ids', () => {
      const ids = ints([3, 9], 4, 0, 4);
      const notPad = tf.cast(tf.notEqual(ids, 1), 'int32');
      return tf.add(tf.mul(tf.cumsum(notPad, 1), notPad), tf.scalar(1, 'int32'));
    });
  });

  test('argMax/argMin: first index on ties, NaN only wins in front, every axis, int32, > 64 inner lanes', () => {
    const tied = () => tf.tensor([[1, 3, 3, 0], [NaN, 2, 5, 5], [2, NaN, 7, 1], [-Infinity, -Infinity, -Infinity, -Infinity]]);
    for (const axis of [0, 1]) {
      expectSame(`argMax tied axis ${axis}`, () => tf.argMax(tied(), axis));
      expectSame(`argMin tied axis ${axis}`, () => tf.argMin(tied(), axis));
    }
    for (const shape of [[9], [5, 8], [4, 7, 130], [3, 1, 2]])
      for (let axis = 0; axis < shape.length; axis++) {
        expectSame(`argMax f32 [${shape}] axis ${axis}`, () => tf.argMax(tf.round(floats(shape, axis)), axis));
        expectSame(`argMin f32 [${shape}] axis ${axis}`, () => tf.argMin(tf.round(floats(shape, axis)), axis));
        expectSame(`argMax i32 [${shape}] axis ${axis}`, () => tf.argMax(ints(shape, axis, -4, 4), axis));
      }
  });

  test('oneHot: out-of-range and negative indices give all-off rows; int32 and float32 outputs', () => {
    const idx = () => tf.tensor([[0, 4, -1], [5, 2, 2]], [2, 3], 'int32');
    expectSame('oneHot int32', () => tf.oneHot(idx(), 5));
    expectSame('oneHot float32 on/off', () => tf.oneHot(idx(), 5, 0.9, 0.025, 'float32'));
    expectSame('oneHot 1-D', () => tf.oneHot(tf.tensor1d([3, 0, 1], 'int32'), 4, 7, -2));
  });

  test('unsortedSegmentSum: repeated, negative and out-of-range ids; multi-dim ids; int32; many segments (parallel)', () => {
    const ids = tf.tensor1d([3, 0, 3, -1, 7, 2, 3], 'int32');
    expectSame('segsum f32', () => tf.unsortedSegmentSum(floats([7, 5], 1), ids, 5));
    expectSame('segsum i32', () => tf.unsortedSegmentSum(ints([7, 3], 2), ids, 5));
    expectSame('segsum 1-D x', () => tf.unsortedSegmentSum(floats([7], 3), ids, 4));
    expectSame('segsum 2-D ids', () => tf.unsortedSegmentSum(floats([2, 3, 4], 4), tf.tensor2d([[0, 2, 2], [1, 0, 5]], [2, 3], 'int32'), 3));
    const n = 3000;
    const big = Int32Array.from(rand(n, 5, 0, 20000), Math.floor);
    expectSame('segsum many segments', () => tf.unsortedSegmentSum(tf.tensor(rand(n * 64, 6), [n, 64]), tf.tensor1d(big, 'int32'), 20000));
    ids.dispose();
  });

  test('addN of 1..5 tensors, float32 and int32 (order of adds as tfjs: -0 becomes 0)', () => {
    for (const k of [1, 2, 5])
      for (const shape of [[7], [3, 5], [(1 << 18) + 1]].slice(0, k === 2 ? 3 : 2)) {
        expectSame(`addN ${k} f32 [${shape}]`, () => tf.addN(Array.from({ length: k }, (_, i) => floats(shape, i + 1))));
        expectSame(`addN ${k} i32 [${shape}]`, () => tf.addN(Array.from({ length: k }, (_, i) => ints(shape, i + 1))));
      }
  });

  test('where (Select) with broadcast condition and operands, float32/int32/bool', () => {
    for (const [k, [a, b]] of PAIRS.entries()) {
      expectSame(`where f32 [${a}] [${b}]`, () => tf.where(bools(a.length >= b.length ? a : b, k), floats(a, k), floats(b, k + 1)));
      expectSame(`where i32 [${a}] [${b}]`, () => tf.where(bools(a.length >= b.length ? a : b, k), ints(a, k), ints(b, k + 1)));
      expectSame(`where bool [${a}] [${b}]`, () => tf.where(bools(a.length >= b.length ? a : b, k), bools(a, k + 2), bools(b, k + 3)));
    }
  });

  test('range: int32 and float32, negative and fractional steps (float rounding per step like tfjs)', () => {
    const cases: Array<[number, number, number, 'int32' | 'float32']> = [
      [0, 10, 1, 'int32'], [0, 10, 3, 'int32'], [10, 0, 1, 'int32'], [5, -7, -2, 'int32'],
      [0, 1, 0.1, 'float32'], [5, -3, -0.7, 'float32'], [0.5, 1000.5, 0.3, 'float32'], [3, 0, 1, 'float32'],
    ];
    for (const [start, stop, step, dtype] of cases) expectSame(`range(${start}, ${stop}, ${step}, ${dtype})`, () => tf.range(start, stop, step, dtype));
  });
});
