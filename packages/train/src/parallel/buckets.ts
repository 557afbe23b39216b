import * as tf from '@tensorflow/tfjs-core';
import type { Collective } from '@altclip/mpi';
import { readInto } from './tensor-io';

/** PyTorch DDP's default bucket size. */
export const DEFAULT_BUCKET_MB = 25;

interface Bucket {
  /** Parameter positions (into the reducer's key list) and their offsets in `buf`. */
  members: Array<{ index: number; offset: number }>;
  buf?: Float32Array;
  size: number;
  /** Members whose gradient has been copied in this step. */
  filled: number;
  pending?: Promise<void>;
}

/**
 * Sums gradients over ranks in buckets of about `bucketMB` (a parameter larger than that is a bucket of its own), in
 * reverse parameter order, the order the backward pass finishes them. `ready` copies a final gradient into its bucket
 * and starts the bucket's allreduce on the communication thread once it is full, so reduction overlaps the rest of the
 * backward pass; buckets start strictly in order, so every rank issues the same sequence of collectives whatever
 * order its gradients become final in. The bucket buffers stay allocated between steps (as DDP's).
 */
export class GradReducer {
  private readonly buckets: Bucket[] = [];
  private readonly bucketOf: number[] = [];
  /** Parameter positions whose gradient (or zeros) is in its bucket this step. */
  private copied = new Set<number>();
  private launched = 0;
  private step = 0;

  constructor(
    private readonly c: Collective,
    private readonly keys: string[],
    private readonly shapes: number[][],
    bucketMB = DEFAULT_BUCKET_MB,
  ) {
    const cap = Math.max(1, Math.floor((bucketMB * 2 ** 20) / 4));
    let cur: Bucket | undefined;
    for (let i = keys.length - 1; i >= 0; i--) {
      const n = shapes[i].reduce((a, b) => a * b, 1);
      if (!cur || (cur.size > 0 && cur.size + n > cap)) this.buckets.push((cur = { members: [], size: 0, filled: 0 }));
      cur.members.push({ index: i, offset: cur.size });
      cur.size += n;
      this.bucketOf[i] = this.buckets.length - 1;
    }
  }

  /** Number of buckets (for logs). */
  get count(): number {
    return this.buckets.length;
  }

  /** Starts a step: no gradient copied yet. */
  begin(step: number): void {
    this.step = step;
    this.launched = 0;
    this.copied.clear();
    for (const b of this.buckets) {
      b.filled = 0;
      b.pending = undefined;
    }
  }

  /** Parameter `index`'s gradient is final: copy it into its bucket; start every full bucket whose turn it is. */
  ready(index: number, grad: tf.Tensor | undefined): void {
    if (this.copied.has(index)) return;
    this.copied.add(index);
    const b = this.buckets[this.bucketOf[index]];
    const m = b.members.find((x) => x.index === index)!;
    b.buf ??= new Float32Array(b.size);
    if (grad) readInto(grad, b.buf, m.offset);
    else b.buf.fill(0, m.offset, m.offset + this.shapes[index].reduce((a, c) => a * c, 1));
    b.filled++;
    while (this.launched < this.buckets.length && this.buckets[this.launched].filled === this.buckets[this.launched].members.length) this.launch(this.launched++);
  }

  private launch(i: number): void {
    const b = this.buckets[i];
    b.pending = this.c.allreduceAsync(b.buf!, `gradients of step ${this.step + 1}, bucket ${i + 1}/${this.buckets.length} (${((b.size * 4) / 2 ** 20).toFixed(1)} MiB)`);
  }

  /**
   * The sums, after copying in the gradients `ready` has not seen (a parameter without a gradient this step counts as
   * zero). Disposes `grads` as soon as everything is in the buckets (so memory holds the buckets and the sums, not
   * three copies); returns new tensors under the keys `grads` had.
   */
  async finish(grads: Map<string, tf.Tensor>): Promise<Map<string, tf.Tensor>> {
    const present = new Set(grads.keys());
    // Reverse parameter order: buckets fill in the order they start.
    for (let i = this.keys.length - 1; i >= 0; i--) this.ready(i, grads.get(this.keys[i]));
    tf.dispose([...grads.values()]);
    grads.clear();
    const out = new Map<string, tf.Tensor>();
    for (const b of this.buckets) {
      await b.pending;
      for (const m of b.members) {
        const k = this.keys[m.index];
        if (!present.has(k)) continue;
        const shape = this.shapes[m.index];
        out.set(k, tf.tensor(b.buf!.subarray(m.offset, m.offset + shape.reduce((x, y) => x * y, 1)), shape, 'float32'));
      }
    }
    return out;
  }
}
