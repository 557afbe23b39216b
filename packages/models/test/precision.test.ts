/**
 * The precision layer (src/precision.ts, src/bf16-ops.ts): the registry, the autocast scope, what support() says
 * where bf16 products cannot run, the bf16 linear layer's values and gradients against a float64 reference on the
 * bf16-rounded operands, and the bytes a linear layer saves for its backward pass (bf16: 2 per input value).
 * On a CPU without AVX512_BF16 the products run on the emulated tile (asked for with setNativeBf16Emulation),
 * which computes the same values; on one with it, on vdpbf16ps.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { nativeStatus, setNativeBf16Emulation } from '@altclip/native';
import { getPrecision, linear, matmulPrecision, PRECISION_NAMES, storeFrozenAsHalf, halfParams } from '@altclip/models';

const status = nativeStatus();
const describeNative = status.available ? describe : describe.skip;

/** float32 -> nearest-even bf16 -> float64. */
function bf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 0) & 0xffff0000;
  return f[0];
}

/** C = A B (row-major, float64) with optional transposes. */
function mm(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number, tA: boolean, tB: boolean): { c: Float64Array; abs: Float64Array } {
  const c = new Float64Array(M * N);
  const abs = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++)
      for (let k = 0; k < K; k++) {
        const p = a[tA ? k * M + i : i * K + k] * b[tB ? j * K + k : k * N + j];
        c[i * N + j] += p;
        abs[i * N + j] += Math.abs(p);
      }
  return { c, abs };
}

/** Max of |x - ref| / (2 K 2^-24 sum|products| + tiny): float32 accumulation's bound on exact bf16 products. */
function worstRatio(x: ArrayLike<number>, r: { c: Float64Array; abs: Float64Array }, K: number, extra = 0): number {
  let w = 0;
  for (let i = 0; i < r.c.length; i++) w = Math.max(w, Math.abs(x[i] - r.c[i]) / (2 * K * 2 ** -24 * r.abs[i] + extra + 1e-30));
  return w;
}

describe('precision registry', () => {
  test("open_clip's names, and an unknown one is refused naming them", () => {
    expect(PRECISION_NAMES).toEqual(['fp32', 'amp_bf16', 'bf16']);
    for (const n of PRECISION_NAMES) expect(getPrecision(n).name).toBe(n);
    expect(() => getPrecision('fp16')).toThrow("unknown precision 'fp16' (expected one of fp32, amp_bf16, bf16)");
    expect(() => getPrecision('constructor')).toThrow(/unknown precision/);
  });

  test('on the cpu backend amp_bf16 reports the fallback and computes in fp32', async () => {
    await setupBackend({ backend: 'cpu' });
    const s = getPrecision('amp_bf16').support();
    expect(s.compute).toBe('fp32');
    expect(s.line).toMatch(/^precision amp_bf16: the 'cpu' backend has no bf16 GEMM .*so matmuls compute in fp32/);
    expect(getPrecision('amp_bf16').autocast(() => matmulPrecision())).toBe('fp32');
  });

  test('autocast restores the previous precision after a value, a throw and a settled promise', async () => {
    const fake = getPrecision('fp32');
    expect(matmulPrecision()).toBe('fp32');
    expect(() => fake.autocast(() => { throw new Error('boom'); })).toThrow('boom');
    expect(matmulPrecision()).toBe('fp32');
    await fake.autocast(async () => 1);
    expect(matmulPrecision()).toBe('fp32');
  });
});

describeNative('bf16 compute on the native backend', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'native' });
    if (!status.bf16?.native) setNativeBf16Emulation(true);
  });
  afterAll(() => setNativeBf16Emulation(false));

  test('amp_bf16 computes in bf16 inside autocast only, and says where', async () => {
    const amp = getPrecision('amp_bf16');
    expect(amp.support().compute).toBe('bf16');
    expect(amp.support().line).toMatch(status.bf16?.native ? /AVX512_BF16/ : /emulated tile/);
    expect(amp.autocast(() => matmulPrecision())).toBe('bf16');
    await amp.autocast(async () => {
      await Promise.resolve();
      expect(matmulPrecision()).toBe('bf16');
    });
    expect(matmulPrecision()).toBe('fp32');
  });

  test('linear under amp_bf16: y, dx, dW and db against float64 on the bf16-rounded operands', () => {
    const [rows, K, N] = [37, 70, 19];
    const xv = Float32Array.from({ length: rows * K }, (_, i) => Math.sin(i * 0.37) * 1.7);
    const wv = Float32Array.from({ length: N * K }, (_, i) => Math.cos(i * 0.11) * 0.3);
    const bv = Float32Array.from({ length: N }, (_, i) => i / 7 - 1);
    const gv = Float32Array.from({ length: rows * N }, (_, i) => Math.sin(i * 1.1)); // dL/dy
    const x = tf.tensor2d(xv, [rows, K]);
    const w = tf.variable(tf.tensor2d(wv, [N, K]));
    const b = tf.variable(tf.tensor1d(bv));
    const g = tf.tensor2d(gv, [rows, N]);
    const amp = getPrecision('amp_bf16');
    const { y, dx, dw, db } = amp.autocast(() => {
      const yv = linear(x, w, b);
      const r = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(linear(xx, ww, bb), g)))([x, w, b]);
      return { y: yv.dataSync(), dx: r[0].dataSync(), dw: r[1].dataSync(), db: r[2].dataSync() };
    });
    const rx = Array.from(xv, bf), rw = Array.from(wv, bf), rg = Array.from(gv, bf);
    const ry = mm(rx, rw, rows, N, K, false, true);
    for (let i = 0; i < rows; i++) for (let j = 0; j < N; j++) ry.c[i * N + j] += bv[j];
    expect(worstRatio(y, ry, K, 2 ** -24 * 4)).toBeLessThanOrEqual(1); // + the bias add's rounding
    expect(worstRatio(dx, mm(rg, rw, rows, K, N, false, false), N)).toBeLessThanOrEqual(1);
    expect(worstRatio(dw, mm(rg, rx, N, K, rows, true, false), rows)).toBeLessThanOrEqual(1);
    // db = column sums of dy in float32 (not rounded: a reduction, not a matmul).
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let i = 0; i < rows; i++) s += gv[i * N + j];
      expect(Math.abs(db[j] - s)).toBeLessThan(1e-5);
    }
    // And it is not the float32 product: rounding moved y by far more than float32 accumulation would.
    const y32 = linear(x, w, b).dataSync();
    expect(Math.max(...Array.from(y32, (v, i) => Math.abs(v - y[i])))).toBeGreaterThan(1e-3);
    tf.dispose([x, w, b, g]);
  });

  test('a linear layer saves its input for the backward pass in bf16: 2 bytes per value, and nothing else but the weight', () => {
    const [rows, K, N] = [64, 96, 40];
    const x = tf.randomNormal([rows, K]);
    const w = tf.variable(tf.randomNormal([N, K]));
    const b = tf.variable(tf.zeros([N]));
    // The tape's nodes while the forward runs: each has the tensors it saved (tfjs's engine state, not in its typings).
    const savedBytes = (precision: string) => {
      let bytes = -1;
      tf.grads((xx: tf.Tensor) => {
        const y = getPrecision(precision).autocast(() => linear(xx, w, b));
        const tape = (tf.engine() as unknown as { state: { activeTape: Array<{ saved?: tf.Tensor[] }> } }).state.activeTape;
        const node = tape[tape.length - 1];
        // Saved activations: everything but the weight (a parameter, alive anyway; tfjs may save it reshaped to 3-D).
        bytes = (node.saved ?? []).filter((t) => t.size !== w.size).reduce((s, t) => s + t.size * 4, 0);
        return tf.sum(y);
      })([x]);
      return bytes;
    };
    // float32: tfjs's _FusedMatMul gradient keeps its input, its output (for an activation's gradient) and the bias.
    expect(savedBytes('fp32')).toBe(rows * K * 4 + rows * N * 4 + N * 4);
    // amp_bf16: only the bf16 copy of the input (the bias gradient is a sum of dy and needs nothing saved).
    expect(savedBytes('amp_bf16')).toBe(rows * K * 2);
    tf.dispose([x, w, b]);
  });

  test('bf16 prepareModel stores frozen matrices in bf16 and leaves trainable ones and vectors float32', () => {
    const modelOf = (params: Map<string, tf.Tensor>) => ({
      namedParameters: () => new Map([...params].filter(([, t]) => t instanceof tf.Variable) as Array<[string, tf.Variable]>),
      storeFrozenAs: (dtype: 'bf16' | 'f16', keys: Iterable<string>) => storeFrozenAsHalf(params, keys, dtype),
    });
    const params = new Map<string, tf.Tensor>([
      ['frozen.weight', tf.variable(tf.ones([4, 6]))],
      ['frozen.bias', tf.variable(tf.ones([4]))],
      ['trainable.weight', tf.variable(tf.ones([4, 6]))],
    ]);
    const line = getPrecision('bf16').prepareModel(modelOf(params), ['trainable.weight']);
    expect(line).toBe('precision bf16: 1 frozen weight tensors stored in bf16 (0 MiB saved)');
    expect(halfParams(params)?.get('frozen.weight')?.dtype).toBe('bf16');
    expect(params.has('frozen.bias') && params.has('trainable.weight')).toBe(true);
    expect(getPrecision('amp_bf16').prepareModel(modelOf(params))).toBe('');
    // --frozen-dtype's choice stays: a tensor already in half storage is not moved again.
    const p2 = new Map<string, tf.Tensor>([['a.weight', tf.variable(tf.ones([2, 2]), false)]]);
    storeFrozenAsHalf(p2, ['a.weight'], 'f16');
    expect(getPrecision('bf16').prepareModel(modelOf(p2))).toBe('');
    expect(halfParams(p2)?.get('a.weight')?.dtype).toBe('f16');
  });
});
