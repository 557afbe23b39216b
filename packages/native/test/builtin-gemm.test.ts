/**
 * The built-in SGEMM (csrc/sgemm.cc, used when OpenBLAS is absent or ALTCLIP_NATIVE_GEMM=builtin) forced on, through
 * the registered BatchMatMul/_FusedMatMul kernels, against a float64 reference and the stock `cpu` backend:
 * both transpose flags, batch broadcasting, sizes of 1, sizes that are not multiples of the 6x16 micro-tile or of
 * the KC=256 / MC=96 / NC=4096 blocks, and the threaded path. Skipped, saying why, when the addon is not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, backendInfo } from '@altclip/backend';
import { nativeStatus, setNativeGemm } from '@altclip/native';
import { MatMulCase, matMulCase, on, rand, refMatMul, relErr, size } from './helpers';

const status = nativeStatus();
const describeNative = status.available ? describe : describe.skip;
if (!status.available) test.skip(`native addon not available, built-in gemm tests skipped: ${status.why}`, () => undefined);

type Case = MatMulCase;
const mk = matMulCase;
const CASES: Case[] = [];
for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as Array<[boolean, boolean]>) {
  CASES.push(mk([], [], 1, 1, 1, tA, tB)); // everything 1
  CASES.push(mk([], [], 7, 5, 3, tA, tB)); // smaller than one micro-tile
  CASES.push(mk([], [], 1, 9, 17, tA, tB)); // one row, N one past the tile width
  CASES.push(mk([2, 1], [1, 3], 6, 5, 16, tA, tB)); // both broadcast, exact micro-tiles
  CASES.push(mk([12], [12], 64, 64, 33, tA, tB)); // attention-sized batch on the pool (single-threaded gemms)
  CASES.push(mk([], [], 97, 600, 131, tA, tB)); // M > MC, K = 2 full KC blocks + remainder, threaded
}
// N > NC (a second column slice) and a large K once, not for every flag pair, to keep the test short.
CASES.push(mk([], [], 13, 1100, 37, false, true));
CASES.push(mk([], [], 5, 7, 4100, true, false));

describeNative('built-in SGEMM (forced) vs a float64 reference and the cpu backend', () => {
  let before: 'builtin' | 'openblas' = 'openblas';
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend: 'wasm' });
    before = nativeStatus().gemm ?? 'openblas';
    expect(setNativeGemm('builtin')).toBe('builtin');
  });
  afterAll(() => {
    setNativeGemm(before);
  });

  test('nativeStatus and backendInfo report the built-in gemm', () => {
    const s = nativeStatus();
    expect(s.gemm).toBe('builtin');
    expect(s.blas?.config).toMatch(/^built-in SGEMM/);
    expect(backendInfo().native.note).toMatch(/^active: built-in SGEMM/);
  });

  test.each(CASES.map((c, i) => [`${JSON.stringify(c.a)}${c.tA ? 'T' : ''} x ${JSON.stringify(c.b)}${c.tB ? 'T' : ''}`, c, i] as const))(
    'BatchMatMul %s',
    async (_n, c, i) => {
      const a = rand(size(c.a), 300 + i);
      const b = rand(size(c.b), 400 + i);
      const f = () => tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.tA, c.tB);
      const [w] = await on('wasm', f);
      const ref = refMatMul(a, c.a, b, c.b, c.tA, c.tB);
      expect(w.shape).toEqual(ref.shape);
      expect(relErr(w.v, ref.v)).toBeLessThan(1e-5);
      const [cpu] = await on('cpu', f);
      if (cpu.v.length === ref.v.length) expect(relErr(w.v, cpu.v)).toBeLessThan(1e-5);
    },
  );

  test('_FusedMatMul bias + relu epilogue on the built-in gemm output', async () => {
    const a = rand(40 * 300, 7, -2, 2);
    const b = rand(300 * 50, 8, -2, 2);
    const bias = rand(50, 9);
    const f = () => tf.fused.matMul({ a: tf.tensor(a, [40, 300]), b: tf.tensor(b, [50, 300]), transposeB: true, bias: tf.tensor(bias, [50]), activation: 'relu' });
    const [w] = await on('wasm', f);
    const [cpu] = await on('cpu', f);
    expect(w.shape).toEqual([40, 50]);
    expect(relErr(w.v, cpu.v)).toBeLessThan(1e-5);
  });
});
