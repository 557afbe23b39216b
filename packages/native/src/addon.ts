import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The compiled addon's functions (csrc/addon.cc). Offsets are byte offsets into `heap`. */
export interface NativeAddon {
  gemm(
    heap: Uint8Array | null, a: number, b: number, c: number, M: number, N: number, K: number, transA: boolean, transB: boolean,
    count: number, aStride: number, bStride: number, aIdx: Int32Array | null, bIdx: Int32Array | null,
    bias: number, biasSize: number, activation: number, leakyAlpha: number,
    /** GEMM_TYPES bits: A bf16, B bf16, bf16 products (csrc/kernels.h GemmTypes). */
    types: number,
  ): void;
  /** float32 -> bf16 (round to nearest even) and back; `out`/`x` bf16 are uint16 bit patterns. */
  toBf16(heap: Uint8Array | null, x: number, out: number, n: number): void;
  fromBf16(heap: Uint8Array | null, x: number, out: number, n: number): void;
  /** The tile bf16 products run on: vdpbf16ps ('avx512_bf16', `native`) or 'emulated' (float32 FMAs on widened bf16). */
  bf16Info(): { native: boolean; isa: 'avx512_bf16' | 'emulated'; forced: boolean };
  setBf16Emulation(on: boolean): void;
  /** Register-only loop: flops done by `iters` rounds on `threads` threads (kind 0 float32 FMA, 1 vdpbf16ps; 0 when absent). */
  peakLoop(kind: 0 | 1, iters: number, threads: number): number;
  reduceSum(heap: Uint8Array | null, x: number, out: number, outer: number, mid: number, inner: number, scale: number): void;
  reduceMax(heap: Uint8Array | null, x: number, out: number, outer: number, mid: number, inner: number): void;
  unary(heap: Uint8Array | null, op: number, x: number, out: number, n: number): void;
  softmax(heap: Uint8Array | null, x: number, out: number, rows: number, cols: number): void;
  /** `gscale` multiplies the gradient first (gradient clipping's coefficient). */
  adamw(heap: Uint8Array | null, p: number, m: number, v: number, g: number, n: number, lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number, gscale: number): void;
  /** sum x^2 in double. */
  sumSquares(heap: Uint8Array | null, x: number, n: number): number;
  scaleInPlace(heap: Uint8Array | null, x: number, n: number, s: number): void;
  binary(heap: Uint8Array | null, op: number, a: number, b: number, out: number, dims: Int32Array, aStrides: Int32Array, bStrides: Int32Array): void;
  gather(heap: Uint8Array | null, x: number, idx: number, out: number, outer: number, axisDim: number, inner: number, nIdx: number): boolean;
  permuteRows(heap: Uint8Array | null, x: number, out: number, dims: Int32Array, strides: Float64Array, inner: number): void;
  /** dtype codes: 0 float32, 1 int32, 2 bool (csrc/ops.h). */
  cast(heap: Uint8Array | null, x: number, inType: number, out: number, outType: number, n: number): void;
  fill(heap: Uint8Array | null, out: number, dtype: number, value: number, n: number): void;
  /** Element strides (may be 0 or negative); offsets are bytes to element (0, ..., 0). */
  stridedCopy(heap: Uint8Array | null, src: number, dst: number, elemBytes: number, dims: Float64Array, srcStrides: Float64Array, dstStrides: Float64Array): void;
  /** csrc/elementwise.h (op codes in elementwise.ts; dtype codes as for cast). */
  unaryEx(heap: Uint8Array | null, op: number, dtype: number, x: number, out: number, n: number, p0: number, p1: number): void;
  binaryEx(heap: Uint8Array | null, op: number, dtype: number, a: number, b: number, out: number, dims: Int32Array, aStrides: Int32Array, bStrides: Int32Array): void;
  cumsum(heap: Uint8Array | null, dtype: number, x: number, out: number, outer: number, n: number, inner: number, exclusive: boolean, reverse: boolean): void;
  argReduce(heap: Uint8Array | null, isMin: boolean, dtype: number, x: number, out: number, outer: number, n: number, inner: number): void;
  oneHot(heap: Uint8Array | null, indices: number, out: number, dtype: number, n: number, depth: number, on: number, off: number): void;
  segmentSum(heap: Uint8Array | null, dtype: number, x: number, ids: number, out: number, n: number, d: number, numSegments: number): void;
  addN(heap: Uint8Array | null, dtype: number, offsets: Float64Array, out: number, n: number): void;
  select(heap: Uint8Array | null, cond: number, a: number, b: number, out: number, elemBytes: number, n: number): void;
  range(heap: Uint8Array | null, dtype: number, out: number, n: number, start: number, step: number): void;
  setThreads(n: number): void;
  /** Heads with at most this many scores (Lq * Lk) attend on whole score rows, longer ones in key tiles; returns the previous limit. */
  setAttentionFullRowLimit(scores: number): number;
  /** Reserves the native backend's arena (once) and returns its size in bytes (csrc/arena.h). */
  arenaInit(bytes: number): number;
  /** External ArrayBuffer over bytes [i * 4 GiB, (i + 1) * 4 GiB) of the arena. */
  arenaSegment(i: number): ArrayBuffer;
  /** Byte offset of a new 64-byte aligned block, or -1 when the reservation is exhausted. */
  arenaAlloc(bytes: number): number;
  arenaFree(offset: number): boolean;
  arenaStats(): ArenaStats;
  /** 0: reset the peak, 1: set the free-page cache cap to `value` bytes, 2: release every cached free page. */
  arenaControl(op: 0 | 1 | 2, value: number): void;
  /** glibc's malloc_trim(0): the free pages inside malloc's arenas go back to the system; false without glibc. */
  mallocTrim(): boolean;
  /**
   * The SGEMM the matmul kernels use: 'builtin' (csrc/sgemm.cc; true), 'openblas' (false), or 'auto' (the built-in
   * AVX-512 tile on the shapes where it beats OpenBLAS, OpenBLAS elsewhere). Stays built-in when OpenBLAS is not linked.
   */
  setGemm(mode: GemmMode | boolean): void;
  /** The built-in SGEMM's code path (csrc/sgemm.h); false for an unknown one or one this CPU cannot run. */
  setGemmIsa(isa: GemmIsa): boolean;
  info(): {
    threads: number; blasThreads: number; blasConfig: string; blasCore: string;
    /** Linked against OpenBLAS at build time. */
    openblas: boolean;
    /** The SGEMM BatchMatMul/_FusedMatMul use now. */
    gemm: GemmMode;
    /** The built-in SGEMM's code path (picked at load: the best this CPU runs, or ALTCLIP_NATIVE_ISA), and its description. */
    builtinIsa: GemmIsa;
    builtinCore: string;
    /** What 'auto' runs on the built-in SGEMM, e.g. "8-336-row and per-head products"; '' when its path never wins. */
    autoBuiltin: string;
  };
}

/** The built-in SGEMM's code paths, fastest first: 14x32 AVX-512F tile, 6x16 AVX2/FMA tile, 6x16 default target. */
export const GEMM_ISAS = ['avx512', 'avx2', 'baseline'] as const;
export type GemmIsa = (typeof GEMM_ISAS)[number];
/** Which SGEMM the matmul kernels use (csrc/sgemm.h GemmMode). */
export type GemmMode = 'auto' | 'builtin' | 'openblas';

export interface ArenaStats {
  reserved: number;
  /** Bytes in live blocks. */
  live: number;
  peakLive: number;
  /** Free bytes whose pages may still be resident (reused without page faults). */
  cached: number;
  cacheCap: number;
  top: number;
  allocs: number;
  frees: number;
  releases: number;
}

/** Unary op codes (csrc/kernels.h). */
export const UNARY = { Exp: 0, Erf: 1, Sigmoid: 2, Sqrt: 3, Rsqrt: 4, Square: 5, Neg: 6 } as const;
/** Binary op codes (csrc/kernels.h). */
export const BINARY = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, SquaredDifference: 4, Maximum: 5, Minimum: 6 } as const;
/** Bits of gemm's `types` argument. */
export const GEMM_TYPES = { aBf16: 1, bBf16: 2, bf16Compute: 4 } as const;
/** _FusedMatMul activation codes (csrc/kernels.h); prelu is not fused natively. */
export const ACTIVATION: Record<string, number> = { linear: 0, relu: 1, relu6: 2, sigmoid: 3, leakyrelu: 4, elu: 5 };

export const INSTALL_HINT = 'apt-get install -y build-essential libopenblas-dev && npm rebuild @altclip/native';

export interface AddonStatus {
  addon: NativeAddon | null;
  /** Where the binary is (or was looked for). */
  file: string;
  /** Why it is not loaded, when it is not. */
  why?: string;
}

let status: AddonStatus | undefined;

/** Loads build/Release/altclip_native.node once; never throws (a missing or broken build is reported in `why`). */
export function loadAddon(): AddonStatus {
  if (status) return status;
  const file = path.join(__dirname, '..', 'build', 'Release', 'altclip_native.node');
  const flag = process.env.ALTCLIP_NATIVE;
  if (flag === '0') return (status = { addon: null, file, why: 'disabled by ALTCLIP_NATIVE=0' });
  if (flag !== undefined && flag !== '' && flag !== '1') {
    // Only '0' turns it off everywhere (backend, kernels, AdamW): say so rather than run natively unannounced.
    process.stderr.write(`@altclip/native: ALTCLIP_NATIVE=${flag} is neither 0 (off) nor 1 (on); the addon stays on (ALTCLIP_NATIVE=0 turns it off)\n`);
  }
  if (!fs.existsSync(file)) return (status = { addon: null, file, why: `not built (${INSTALL_HINT})` });
  try {
    const addon = require(file) as NativeAddon;
    addon.setThreads(defaultThreads());
    startMallocTrim(addon);
    return (status = { addon, file });
  } catch (e) {
    return (status = { addon: null, file, why: `failed to load ${file}: ${(e as Error).message.split('\n')[0]} (${INSTALL_HINT})` });
  }
}

/** How often the free pages inside glibc's malloc arenas are handed back (startMallocTrim). */
export const MALLOC_TRIM_MS = 1000;

/**
 * Hands the free pages inside glibc's malloc arenas back to the system once a second (issue 24, item 15). Threads
 * that malloc and free buffers of varying sizes (libvips decoding on the image pool's workers, libuv's file reads)
 * leave free holes in the middle of their arenas, which glibc only returns at the arena's top: over 30,000 embeds
 * malloc's resident pages grew by 10 MiB and were still growing; with the trim they stay level. A walk over the
 * arenas costs well under a millisecond. The timer does not keep the process alive.
 */
function startMallocTrim(addon: NativeAddon): void {
  if (!addon.mallocTrim()) return; // not glibc: nothing to trim
  setInterval(() => addon.mallocTrim(), MALLOC_TRIM_MS).unref();
}

/** ALTCLIP_NATIVE_THREADS, else one per CPU this process may use (OpenBLAS and the elementwise pool). */
function defaultThreads(): number {
  const raw = process.env.ALTCLIP_NATIVE_THREADS;
  // availableParallelism counts the CPUs this process may run on: one per rank under `mpirun --bind-to core`
  const perCpu = Math.max(1, Math.min(os.availableParallelism(), 64));
  if (raw === undefined || raw === '') return perCpu;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= 1) return n;
  process.stderr.write(`@altclip/native: ALTCLIP_NATIVE_THREADS=${raw} is not a positive integer; using ${perCpu} (one per CPU)\n`);
  return perCpu;
}
