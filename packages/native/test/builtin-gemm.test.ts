/**
 * The built-in SGEMM (csrc/sgemm.cc, used when OpenBLAS is absent or ALTCLIP_NATIVE_GEMM=builtin) forced on, through
 * the registered BatchMatMul/_FusedMatMul kernels, against a float64 reference and the stock `cpu` backend, on
 * every code path this CPU runs (avx512 14x32 tile, avx2 and baseline 6x16): both transpose flags, batch
 * broadcasting, sizes of 1, sizes that are not multiples of either tile, of the 16-wide transposes in the avx512
 * packing, or of the KC (256 / 384) / MC (96 / 336) / NC=4096 blocks, and the threaded paths (large, and small with
 * one K slice). ALTCLIP_NATIVE_ISA is checked in a child process. Skipped, saying why, when the addon is not built.
 */
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, backendInfo } from '@altclip/backend';
import { GemmIsa, GemmMode, loadAddon, nativeStatus, setNativeGemm, setNativeGemmIsa, supportedGemmIsas } from '@altclip/native';
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
  CASES.push(mk([], [], 77, 130, 1000, tA, tB)); // skinny (one row block, A packed whole): 3 K slices, threaded
}
// The skinny path's bound: M = MC=336 rows (skinny on the 14x32 path) and one more (the sliced path).
CASES.push(mk([], [], 336, 70, 800, false, true));
CASES.push(mk([], [], 337, 70, 800, true, false));
// N > NC (a second column slice) and a large K once, not for every flag pair, to keep the test short.
CASES.push(mk([], [], 13, 1100, 37, false, true));
CASES.push(mk([], [], 5, 7, 4100, true, false));
// The 14x32 tile's edges: M > MC=336 with 14 ∤ M, N with a last panel of 8 (< 16) and of 18 (> 16) columns,
// K below one 16-wide transpose and K = 2 full KC=384 slices + 5, for the transposed packings.
CASES.push(mk([], [], 351, 20, 40, false, true));
CASES.push(mk([], [], 29, 773, 50, true, true));
CASES.push(mk([], [], 29, 773, 50, false, false));
CASES.push(mk([3], [3], 15, 17, 33, true, false));
// One K slice, 1-16 M multiply-adds, threaded: the small-gemm path (split over rows, then over columns).
CASES.push(mk([], [], 200, 100, 150, false, true));
CASES.push(mk([], [], 30, 64, 700, true, false));

const ISAS: GemmIsa[] = status.available ? supportedGemmIsas() : ['baseline'];
// The path the addon picked at load: ALTCLIP_NATIVE_ISA when this CPU runs it, else the fastest.
const envIsa = process.env.ALTCLIP_NATIVE_ISA as GemmIsa | undefined;
const LOADED: GemmIsa = envIsa && ISAS.includes(envIsa) ? envIsa : ISAS[0];

describeNative('built-in SGEMM code paths', () => {
  test('this CPU runs at least the baseline path; the addon loaded the fastest (or ALTCLIP_NATIVE_ISA)', () => {
    expect(ISAS).toContain('baseline');
    expect(nativeStatus().gemmIsa).toBe(LOADED);
  });

  test('setNativeGemmIsa rejects a path this CPU cannot run, naming the ones it can', () => {
    expect(() => setNativeGemmIsa('sse9' as GemmIsa)).toThrow(`'sse9' is not a built-in SGEMM code path this CPU runs (supported here: ${ISAS.join(', ')})`);
    expect(nativeStatus().gemmIsa).toBe(LOADED);
  });

  // The addon loaded in a child with only `env` set of ALTCLIP_NATIVE_GEMM / ALTCLIP_NATIVE_ISA: its path and gemm.
  const loadWith = (env: Record<string, string>) => {
    const file = path.resolve(loadAddon().file);
    const clean: NodeJS.ProcessEnv = { ...process.env };
    delete clean.ALTCLIP_NATIVE_GEMM;
    delete clean.ALTCLIP_NATIVE_ISA;
    const r = spawnSync(process.execPath, ['-e', `const i = require(${JSON.stringify(file)}).info(); process.stdout.write(i.builtinIsa + ' ' + i.gemm)`], {
      env: { ...clean, ...env },
      encoding: 'utf8',
    });
    return { out: r.stdout, err: r.stderr };
  };

  test('ALTCLIP_NATIVE_ISA forces a path at load (and the built-in gemm); an unknown one warns and keeps the best', () => {
    for (const isa of ISAS) expect(loadWith({ ALTCLIP_NATIVE_ISA: isa }).out).toBe(`${isa} builtin`);
    const bad = loadWith({ ALTCLIP_NATIVE_ISA: 'avx1024' });
    expect(bad.out.split(' ')[0]).toBe(ISAS[0]);
    expect(bad.err).toContain(`ALTCLIP_NATIVE_ISA=avx1024 is unknown (avx512, avx2 or baseline); the built-in SGEMM uses ${ISAS[0]}`);
  });

  test('default gemm: auto (per shape) when OpenBLAS is linked, else built-in; ALTCLIP_NATIVE_GEMM overrides', () => {
    const openblas = nativeStatus().openblas;
    expect(loadWith({}).out).toBe(`${ISAS[0]} ${openblas ? 'auto' : 'builtin'}`);
    expect(loadWith({ ALTCLIP_NATIVE_GEMM: 'auto' }).out).toBe(`${ISAS[0]} ${openblas ? 'auto' : 'builtin'}`);
    expect(loadWith({ ALTCLIP_NATIVE_GEMM: 'openblas' }).out).toBe(`${ISAS[0]} ${openblas ? 'openblas' : 'builtin'}`);
    expect(loadWith({ ALTCLIP_NATIVE_GEMM: 'builtin' }).out).toBe(`${ISAS[0]} builtin`);
    expect(loadWith({ ALTCLIP_NATIVE_GEMM: 'openblas', ALTCLIP_NATIVE_ISA: 'baseline' }).out).toBe(`baseline ${openblas ? 'openblas' : 'builtin'}`);
    const bad = loadWith({ ALTCLIP_NATIVE_GEMM: 'mkl' });
    expect(bad.out).toBe(`${ISAS[0]} ${openblas ? 'auto' : 'builtin'}`);
    expect(bad.err).toContain('ALTCLIP_NATIVE_GEMM=mkl is unknown (auto, builtin or openblas); using auto');
  });
});

// The float64 reference and the cpu backend's result for case i, computed once for all code paths.
const refs = new Map<number, { ref: { v: Float64Array; shape: number[] }; cpu: { v: Float64Array; shape: number[] } }>();
async function references(i: number, a: Float32Array, b: Float32Array, f: () => tf.Tensor) {
  if (!refs.has(i)) {
    const c = CASES[i];
    const [cpu] = await on('cpu', f);
    refs.set(i, { ref: refMatMul(a, c.a, b, c.b, c.tA, c.tB), cpu });
  }
  return refs.get(i)!;
}

describeNative.each(ISAS.map((isa) => [isa]))('built-in SGEMM (forced, %s path) vs a float64 reference and the cpu backend', (isa) => {
  let before: GemmMode = 'auto';
  let beforeIsa: GemmIsa = 'baseline';
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend: 'wasm' });
    before = nativeStatus().gemm ?? 'auto';
    beforeIsa = nativeStatus().gemmIsa ?? 'baseline';
    expect(setNativeGemm('builtin')).toBe('builtin');
    expect(setNativeGemmIsa(isa)).toBe(isa);
  });
  afterAll(() => {
    setNativeGemm(before);
    setNativeGemmIsa(beforeIsa);
  });

  test('nativeStatus and backendInfo report the built-in gemm and its path', () => {
    const s = nativeStatus();
    expect(s.gemm).toBe('builtin');
    expect(s.gemmIsa).toBe(isa);
    expect(s.blas?.config).toMatch(/^built-in SGEMM/);
    expect(s.blas?.core).toMatch(new RegExp(`^${isa}, \\d+x\\d+ tile`));
    expect(backendInfo().native.note).toMatch(/^active: built-in SGEMM/);
  });

  test.each(CASES.map((c, i) => [`${JSON.stringify(c.a)}${c.tA ? 'T' : ''} x ${JSON.stringify(c.b)}${c.tB ? 'T' : ''}`, c, i] as const))(
    'BatchMatMul %s',
    async (_n, c, i) => {
      const a = rand(size(c.a), 300 + i);
      const b = rand(size(c.b), 400 + i);
      const f = () => tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.tA, c.tB);
      const [w] = await on('wasm', f);
      const { ref, cpu } = await references(i, a, b, f);
      expect(w.shape).toEqual(ref.shape);
      expect(relErr(w.v, ref.v)).toBeLessThan(1e-5);
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
