import * as tf from '@tensorflow/tfjs-core';

/** Runs `f` on `backend`; returns its result(s) as float64 arrays with their shapes; frees everything. */
export async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Array<{ v: Float64Array; shape: number[] }>> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const vals = list.map((t) => ({ v: Float64Array.from(t.dataSync()), shape: t.shape }));
  tf.dispose(list);
  return vals;
}

/** Deterministic uniform(lo, hi) numbers (mulberry32), so failures reproduce. */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

export const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Largest |a - b| divided by max(1, max |b|). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m / scale;
}

/**
 * float64 a x b with tf.matMul's conventions (last two dims are the matrix, optionally transposed; leading batch
 * dims broadcast right-aligned). The reference where tfjs's cpu kernel is wrong: it mis-sizes outputs when both
 * operands broadcast ([2,1,..] x [1,3,..] gives 2 batches instead of 6).
 */
export function refMatMul(a: ArrayLike<number>, aShape: number[], b: ArrayLike<number>, bShape: number[], tA: boolean, tB: boolean): { v: Float64Array; shape: number[] } {
  const [M, K] = tA ? [aShape[aShape.length - 1], aShape[aShape.length - 2]] : aShape.slice(-2);
  const N = tB ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
  const ba = aShape.slice(0, -2);
  const bb = bShape.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const pa = [...Array(rank - ba.length).fill(1), ...ba];
  const pb = [...Array(rank - bb.length).fill(1), ...bb];
  const outBatch = pa.map((d, i) => Math.max(d, pb[i]));
  const v = new Float64Array(size(outBatch) * M * N);
  for (let o = 0; o < size(outBatch); o++) {
    // operand batch indices: each output coordinate, clamped to 0 on size-1 dims
    let rem = o;
    let ia = 0, ib = 0, sa = 1, sb = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rem % outBatch[d];
      rem = Math.floor(rem / outBatch[d]);
      ia += (pa[d] === 1 ? 0 : c) * sa;
      ib += (pb[d] === 1 ? 0 : c) * sb;
      sa *= pa[d];
      sb *= pb[d];
    }
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ia * M * K + (tA ? k * M + i : i * K + k)] * b[ib * K * N + (tB ? j * K + k : k * N + j)];
        v[(o * M + i) * N + j] = s;
      }
  }
  return { v, shape: [...outBatch, M, N] };
}
