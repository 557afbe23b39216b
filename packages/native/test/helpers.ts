import * as tf from '@tensorflow/tfjs-core';
// The numeric helpers are the backend tests' (one copy); `on` differs: it also returns each result's shape.
import { refMatMul as refMatMulData } from '../../backend/test/helpers';
export { rand, relErr, size, matMulCase } from '../../backend/test/helpers';
export type { MatMulCase } from '../../backend/test/helpers';

/** Runs `f` on `backend`; returns its result(s) as float64 arrays with their shapes; frees everything. */
export async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Array<{ v: Float64Array; shape: number[] }>> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const vals = list.map((t) => ({ v: Float64Array.from(t.dataSync()), shape: t.shape }));
  tf.dispose(list);
  return vals;
}

/** The backend helpers' float64 reference matmul, its values as `v` like `on`'s results. */
export function refMatMul(a: ArrayLike<number>, aShape: number[], b: ArrayLike<number>, bShape: number[], tA: boolean, tB: boolean): { v: Float64Array; shape: number[] } {
  const r = refMatMulData(a, aShape, b, bShape, tA, tB);
  return { v: r.data, shape: r.shape };
}
