import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';

/** Loads both backends once (patches applied); `on` switches between them. */
export async function loadBackends(): Promise<void> {
  await setupBackend({ backend: 'cpu' });
  await setupBackend({ backend: 'wasm' });
}

/** Runs `f` on `backend` and returns the values of its result(s) as float64 arrays; frees everything. */
export async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Float64Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const vals = list.map((t) => Float64Array.from(t.dataSync()));
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

export function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Central finite differences of a float64 JS function, one coordinate at a time. */
export function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  const y = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    y[i] = x[i] + h;
    const up = f(y);
    y[i] = x[i] - h;
    const down = f(y);
    y[i] = x[i];
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Largest |a-b| relative to max(1, |b|max): float32 results against a float64/other-backend reference. */
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
 * float64 reference matmul with tf.matMul's conventions: the last two dims are the matrix (optionally
 * transposed), leading batch dims broadcast right-aligned. The reference where tfjs's cpu kernel is wrong: it
 * mis-sizes outputs when both operands broadcast ([2,1,..] x [1,3,..] gives 2 batches instead of 6).
 */
export function refMatMul(a: ArrayLike<number>, aShape: number[], b: ArrayLike<number>, bShape: number[], tA: boolean, tB: boolean): { data: Float64Array; shape: number[] } {
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const [M, K] = tA ? [ac, ar] : [ar, ac];
  const [K2, N] = tB ? [bc, br] : [br, bc];
  if (K !== K2) throw new Error('inner dims');
  const ba = aShape.slice(0, -2);
  const bb = bShape.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const pa = [...Array(rank - ba.length).fill(1), ...ba];
  const pb = [...Array(rank - bb.length).fill(1), ...bb];
  const outBatch = pa.map((d, i) => Math.max(d, pb[i]));
  const nOut = size(outBatch);
  const out = new Float64Array(nOut * M * N);
  for (let o = 0; o < nOut; o++) {
    let rem = o;
    let ia = 0;
    let ib = 0;
    let sa = 1;
    let sb = 1;
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
        for (let k = 0; k < K; k++) {
          const av = a[ia * M * K + (tA ? k * M + i : i * K + k)];
          const bv = b[ib * K * N + (tB ? j * K + k : k * N + j)];
          s += av * bv;
        }
        out[(o * M + i) * N + j] = s;
      }
  }
  return { data: out, shape: [...outBatch, M, N] };
}

/** A matmul test case: stored operand shapes (after the transpose flags are applied) and the flags. */
export type MatMulCase = { a: number[]; b: number[]; tA: boolean; tB: boolean };

/** Stored shapes for a logical [..., M, K] x [..., K, N] under the given transpose flags. */
export function matMulCase(batchA: number[], batchB: number[], M: number, K: number, N: number, tA: boolean, tB: boolean): MatMulCase {
  return { a: [...batchA, ...(tA ? [K, M] : [M, K])], b: [...batchB, ...(tB ? [N, K] : [K, N])], tA, tB };
}
