import * as tf from '@tensorflow/tfjs-core';
import type { Collective } from '@altclip/mpi';

/**
 * Every rank's rows of `x` ([n_r, ...], float32) concatenated in rank order: [sum(counts), ...]. With `withGrad`
 * (open_clip's --gather-with-grad, torch.distributed.nn.all_gather) the backward pass sums the incoming gradient over
 * ranks and returns this rank its own rows (a reduce-scatter, done as an allreduce of the small B x D gradient).
 * Every rank must call it at the same point, as any collective.
 */
export function gatherRows(x: tf.Tensor, counts: number[], c: Collective, label: string, withGrad: boolean): tf.Tensor {
  if (x.dtype !== 'float32') throw new Error(`${label}: only float32 features can be gathered, got ${x.dtype}`);
  const perRow = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const total = counts.reduce((a, b) => a + b, 0);
  const start = counts.slice(0, c.rank).reduce((a, b) => a + b, 0);
  const forward = (t: tf.Tensor) =>
    tf.tensor(c.allgatherv(t.dataSync() as Float32Array, counts.map((n) => n * perRow), label), [total, ...x.shape.slice(1)], 'float32');
  if (!withGrad) return forward(x);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: forward(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => {
      const g = Float32Array.from(dy.dataSync() as Float32Array);
      c.allreduce(g, `${label} (backward)`);
      return tf.tensor(g.subarray(start * perRow, (start + counts[c.rank]) * perRow), x.shape, 'float32');
    },
  }));
  return op(x);
}

/** Every rank's rows of `rowSize` values in rank order, for plain arrays (counts exchanged first). */
export function gatherParts(c: Collective, local: Float32Array, rowSize: number, label: string): { data: Float32Array; rows: number } {
  const rows = Array.from(c.allgatherv(Float32Array.of(local.length / rowSize), Array(c.size).fill(1), `${label}: rows per rank`));
  const data = c.allgatherv(local, rows.map((r) => r * rowSize), label);
  return { data, rows: data.length / rowSize };
}
