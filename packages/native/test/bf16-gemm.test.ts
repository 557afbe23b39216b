/**
 * The bf16 GEMM (csrc/sgemm.cc gemmBuiltin with bf16 products; AltclipGemmBf16 / AltclipToBf16 / AltclipFromBf16,
 * src/bf16.ts) against a float64 reference computed on the bf16-rounded inputs: the products of bf16 values are
 * exact in float32, so the only error left is float32 accumulation, bounded by K * 2^-24 * sum_k |a_k b_k| (Higham's
 * gamma_K, first order); the test allows twice that. A kernel that skipped the rounding, mis-packed a pair, dropped
 * the odd last k or a tile edge would miss by ~2^-9 relative or more, 100x the bound at these sizes. Runs on the
 * emulated tile (every CPU) and, where this CPU has AVX512_BF16, on vdpbf16ps too. Shapes cross both tiles' edges
 * (6x16, 14x32), odd K, the KC slices (512, 768), the skinny, small and sliced paths, and bf16 operands.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { BF16_KERNEL_NAMES, measurePeak, nativeStatus, setNativeBf16Emulation } from '@altclip/native';
import { rand } from './helpers';

const status = nativeStatus();
const describeNative = status.available ? describe : describe.skip;
if (!status.available) test.skip(`native addon not available, bf16 gemm tests skipped: ${status.why}`, () => undefined);

/** float32 -> bf16 -> float32, round to nearest even (torch's .to(torch.bfloat16)), computed independently. */
function roundBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  if (Number.isNaN(f[0])) return NaN;
  const lsb = (u[0] >>> 16) & 1;
  u[0] = ((u[0] + 0x7fff + lsb) >>> 0) & 0xffff0000;
  return f[0];
}

interface Case {
  M: number;
  N: number;
  K: number;
  tA: boolean;
  tB: boolean;
  /** Operands passed as bf16 (int32-carried) rather than float32. */
  aBf16?: boolean;
  bBf16?: boolean;
}

const CASES: Case[] = [];
for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as Array<[boolean, boolean]>) {
  CASES.push({ M: 1, N: 1, K: 1, tA, tB });
  CASES.push({ M: 7, N: 5, K: 3, tA, tB }); // under one tile, odd K (a pair with a zero half)
  CASES.push({ M: 15, N: 33, K: 16, tA, tB }); // one past 14 rows / 32 columns
  CASES.push({ M: 29, N: 40, K: 67, tA, tB }); // 6 and 14 do not divide M, odd K
}
CASES.push({ M: 77, N: 130, K: 1025, tA: false, tB: true }); // skinny (A packed whole), 2-3 K slices, odd K
CASES.push({ M: 350, N: 70, K: 800, tA: true, tB: false }); // more rows than MC: the sliced path, threaded
CASES.push({ M: 200, N: 100, K: 150, tA: false, tB: false }); // one K slice, 1-16 M multiply-adds: the small parallel path
// bf16 operands (a linear layer's saved input: dW = dY^T X with X in bf16; a bf16-stored weight).
CASES.push({ M: 64, N: 96, K: 40, tA: true, tB: false, bBf16: true });
CASES.push({ M: 33, N: 45, K: 67, tA: false, tB: true, aBf16: true });
CASES.push({ M: 31, N: 17, K: 9, tA: false, tB: false, aBf16: true, bBf16: true });

function run(c: Case, a: Float32Array, b: Float32Array): Float32Array {
  const aShape = c.tA ? [c.K, c.M] : [c.M, c.K];
  const bShape = c.tB ? [c.N, c.K] : [c.K, c.N];
  return tf.tidy(() => {
    const toBf = (t: tf.Tensor) => tf.engine().runKernel(BF16_KERNEL_NAMES.toBf16, { x: t }) as tf.Tensor;
    const at = c.aBf16 ? toBf(tf.tensor(a, aShape)) : tf.tensor(a, aShape);
    const bt = c.bBf16 ? toBf(tf.tensor(b, bShape)) : tf.tensor(b, bShape);
    const attrs = { transposeA: c.tA, transposeB: c.tB, ...(c.aBf16 ? { aShape } : {}), ...(c.bBf16 ? { bShape } : {}) };
    return (tf.engine().runKernel(BF16_KERNEL_NAMES.gemm, { a: at, b: bt }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array;
  });
}

/** Max over C of |C - ref| / bound, ref and bound in float64 on the rounded inputs. */
function check(c: Case, out: Float32Array, a: Float32Array, b: Float32Array): number {
  const ra = Float64Array.from(a, roundBf16);
  const rb = Float64Array.from(b, roundBf16);
  let worst = 0;
  for (let i = 0; i < c.M; i++) {
    for (let j = 0; j < c.N; j++) {
      let s = 0;
      let abs = 0;
      for (let k = 0; k < c.K; k++) {
        const p = ra[c.tA ? k * c.M + i : i * c.K + k] * rb[c.tB ? j * c.K + k : k * c.N + j];
        s += p;
        abs += Math.abs(p);
      }
      const bound = 2 * c.K * 2 ** -24 * abs + 1e-30;
      worst = Math.max(worst, Math.abs(out[i * c.N + j] - s) / bound);
    }
  }
  return worst;
}

const TILES: Array<'emulated' | 'avx512_bf16'> = status.bf16?.native ? ['emulated', 'avx512_bf16'] : ['emulated'];

describeNative('bf16 GEMM', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'native' });
  });
  afterAll(() => setNativeBf16Emulation(false));

  test('AltclipToBf16 rounds to nearest even (ties, carries into the exponent, NaN, infinities) and AltclipFromBf16 widens', () => {
    // [5]: half an ulp above the largest finite bf16 (bits 0x7f7f8000), a tie that rounds to even: infinity.
    const x = Float32Array.of(1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -2.5, new Float32Array(Uint32Array.of(0x7f7f8000).buffer)[0], Infinity, -Infinity, NaN, 1e-40, 0, -0);
    const back = tf.tidy(() => {
      const packed = tf.engine().runKernel(BF16_KERNEL_NAMES.toBf16, { x: tf.tensor(x) }) as tf.Tensor;
      expect(packed.dtype).toBe('int32');
      expect(packed.size).toBe(Math.ceil(x.length / 2));
      return (tf.engine().runKernel(BF16_KERNEL_NAMES.fromBf16, { x: packed }, { shape: [x.length] } as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync();
    });
    const expected = Array.from(x, roundBf16);
    expect(Array.from(back)).toEqual(expected);
    // The hand-checked cases: the tie 1 + 2^-8 goes to even (1), the tie 1 + 3 * 2^-8 to even (1 + 2^-6), just above
    // a tie rounds up, and the tie above the largest finite bf16 rounds into infinity (as torch does).
    expect(back[1]).toBe(1);
    expect(back[2]).toBe(1 + 2 ** -6);
    expect(back[3]).toBe(1 + 2 ** -7);
    expect(back[5]).toBe(Infinity);
    expect(Number.isNaN(back[8])).toBe(true);
  });

  test.each(TILES)('products on the %s tile match float64 on the bf16-rounded inputs within the float32 accumulation bound', (tile) => {
    setNativeBf16Emulation(tile === 'emulated');
    expect(nativeStatus().bf16?.isa).toBe(tile);
    for (const c of CASES) {
      const a = rand(c.M * c.K, 11 + c.M);
      const b = rand(c.K * c.N, 17 + c.N);
      const worst = check(c, run(c, a, b), a, b);
      if (!(worst <= 1)) throw new Error(`${tile} ${JSON.stringify(c)}: error ${worst.toFixed(2)}x the float32 accumulation bound`);
    }
  });

  test('the products really are of bf16 values: unrounded inputs give a different result than a float32 GEMM', () => {
    // 1 + 2^-10 rounds to 1 in bf16: sum_k (1 + 2^-10) * 1 = K in bf16 products, K (1 + 2^-10) in float32.
    const K = 64;
    const c: Case = { M: 1, N: 1, K, tA: false, tB: false };
    const out = run(c, new Float32Array(K).fill(1 + 2 ** -10), new Float32Array(K).fill(1));
    expect(out[0]).toBe(K);
  });

  test('inner dimensions that differ are an error naming both shapes', () => {
    expect(() => tf.engine().runKernel(BF16_KERNEL_NAMES.gemm, { a: tf.zeros([2, 3]), b: tf.zeros([4, 5]) }, {})).toThrow(/inner dimensions differ: \[2,3\] x \[4,5\]/);
  });

  test('the peak loop measures float32 FMAs on every x86-64 CPU with AVX2, and bf16 dot products only where vdpbf16ps exists', () => {
    const fp32 = measurePeak('fp32', 1, 0.05);
    expect(fp32).toBeGreaterThan(1);
    const bf16 = measurePeak('bf16', 1, 0.05);
    if (status.bf16?.native) expect(bf16).toBeGreaterThan(fp32!);
    else expect(bf16).toBeNull();
  });
});
