import * as tf from '@tensorflow/tfjs-core';
import type { LazyTensor } from '@altclip/checkpoint';
import type { Collective } from '@altclip/mpi';
import { AdamW, AdamWOptions } from '../adamw';
import { readTensor } from './tensor-io';
import type { TrainOptimizer } from '../trainer/types';

/**
 * Which rows of each tensor each rank owns: the parameters laid end to end (in map order) and cut into `size` equal
 * runs of values, each cut moved to the next row boundary. Returns, per tensor, the first row of every rank plus the
 * row count at the end (rank r owns rows [starts[r], starts[r + 1])). Scalars are one row of one value.
 */
export function partitionRows(shapes: number[][], size: number): number[][] {
  const total = shapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
  let offset = 0;
  return shapes.map((sh) => {
    const rows = sh.length ? sh[0] : 1;
    const rowSize = sh.length ? sh.slice(1).reduce((a, b) => a * b, 1) : 1;
    const starts = Array.from({ length: size + 1 }, (_, r) => {
      if (r === size) return rows;
      const lo = Math.floor((r * total) / size);
      return Math.min(rows, Math.max(0, Math.ceil((lo - offset) / rowSize)));
    });
    offset += rows * rowSize;
    return starts;
  });
}

interface Part {
  key: string;
  full: tf.Variable;
  rowSize: number;
  starts: number[];
  /** This rank's rows as their own variable (what AdamW updates), absent when it owns none. */
  slice?: tf.Variable;
}

/** Rows [a, b) of a tensor (axis 0; a scalar is one row). */
function rowsOf(t: tf.Tensor, a: number, b: number): tf.Tensor {
  return t.rank === 0 ? tf.clone(t) : tf.slice(t, a, b - a);
}

/**
 * ZeRO stage 1 (--shard-optimizer): each rank keeps the AdamW moments of its own rows only (1/N of them), updates those
 * rows with the same AdamW (so the numbers equal the unsharded run's), then every rank gathers the updated rows of
 * the others. Checkpoints hold the whole moments as one file (gathered tensor by tensor while rank 0 writes), so they
 * resume on any number of ranks.
 */
export class ShardedAdamW implements TrainOptimizer {
  private readonly parts: Part[];
  private readonly inner: AdamW;
  /** Optimizer steps per key (AdamW's bias correction), for every key, owned or not. */
  private readonly steps = new Map<string, number>();
  private order: string[] = [];
  private served = 0;

  constructor(
    params: Map<string, tf.Variable>,
    opts: AdamWOptions,
    private readonly c: Collective,
  ) {
    const keys = [...params.keys()];
    const starts = partitionRows(keys.map((k) => params.get(k)!.shape), c.size);
    const own = new Map<string, tf.Variable>();
    const noDecayRows = new Map<string, number[]>();
    this.parts = keys.map((key, i) => {
      const full = params.get(key)!;
      const [a, b] = [starts[i][c.rank], starts[i][c.rank + 1]];
      const part: Part = { key, full, rowSize: full.rank ? full.size / full.shape[0] : 1, starts: starts[i] };
      if (b > a) {
        part.slice = tf.tidy(() => tf.variable(rowsOf(full, a, b), true, `${full.name}/zero-slice`));
        own.set(key, part.slice);
        const rows = opts.noDecayRows?.get(key)?.filter((r) => r >= a && r < b).map((r) => r - a);
        if (rows?.length) noDecayRows.set(key, rows);
      }
      this.steps.set(key, 0);
      return part;
    });
    this.inner = new AdamW(own, { ...opts, noDecayRows });
  }

  /** Fraction of all moment values this rank holds (for logs). */
  get share(): number {
    const total = this.parts.reduce((s, p) => s + p.full.size, 0);
    return this.parts.reduce((s, p) => s + (p.slice?.size ?? 0), 0) / Math.max(1, total);
  }

  step(grads: Map<string, tf.Tensor>, lr: number, opts: { disposeGrads?: boolean; gradScale?: number } = {}): void {
    const mine = new Map<string, tf.Tensor>();
    const updated: Part[] = [];
    for (const p of this.parts) {
      const g = grads.get(p.key);
      if (!g) continue;
      updated.push(p);
      this.steps.set(p.key, this.steps.get(p.key)! + 1);
      if (p.slice) mine.set(p.key, rowsOf(g, p.starts[this.c.rank], p.starts[this.c.rank + 1]));
    }
    if (opts.disposeGrads) {
      tf.dispose([...grads.values()]);
      grads.clear();
    }
    this.inner.step(mine, lr, { disposeGrads: true, gradScale: opts.gradScale });
    for (const p of updated) this.gather(p, p.slice, (full) => tf.tidy(() => p.full.assign(tf.tensor(full, p.full.shape, 'float32'))));
  }

  /** Every rank's rows of `p` (its own from `local`) into one array, in order, on every rank. */
  private gather(p: Part, local: tf.Tensor | undefined, use: (full: Float32Array) => void): void {
    const counts = p.starts.slice(0, -1).map((s, r) => (p.starts[r + 1] - s) * p.rowSize);
    use(this.c.allgatherv(local ? readTensor(local) : new Float32Array(0), counts, `ZeRO-1 gather of '${p.key}'`));
  }

  async stateDict(): Promise<{ tensors: Map<string, LazyTensor>; metadata: Record<string, string> }> {
    const mine = await this.inner.stateDict();
    const tensors = new Map<string, LazyTensor>();
    // writeSafetensors loads tensors in sorted name order; every other rank gathers in that order too (serveState).
    this.order = this.momentNames();
    this.served = 0;
    for (const name of this.order) {
      const p = this.partOf(name);
      tensors.set(name, { shape: p.full.shape, dtype: 'F32', load: () => this.next(name, mine.tensors) });
    }
    return { tensors, metadata: { ...mine.metadata, steps: JSON.stringify(Object.fromEntries(this.steps)) } };
  }

  /** On the ranks that do not write: take part in the gathers rank 0's checkpoint writer makes (stateDict). */
  async serveState(): Promise<void> {
    const mine = await this.inner.stateDict();
    this.order = this.momentNames();
    this.served = 0;
    for (const name of this.order) await this.next(name, mine.tensors);
  }

  private async next(name: string, mine: Map<string, LazyTensor>): Promise<Float32Array> {
    const expected = this.order[this.served++];
    if (name !== expected) throw new Error(`ZeRO-1 checkpoint: the writer asked for '${name}' where every rank gathers '${expected}' next (tensors must be written in sorted order)`);
    const p = this.partOf(name);
    const local = mine.get(name);
    const data = local ? Float32Array.from(await local.load()) : new Float32Array(0);
    const counts = p.starts.slice(0, -1).map((s, r) => (p.starts[r + 1] - s) * p.rowSize);
    return this.c.allgatherv(data, counts, `ZeRO-1 checkpoint gather of '${name}'`);
  }

  private momentNames(): string[] {
    return this.parts.flatMap((p) => [`exp_avg.${p.key}`, `exp_avg_sq.${p.key}`]).sort();
  }

  private partOf(name: string): Part {
    const key = name.replace(/^exp_avg(_sq)?\./, '');
    return this.parts.find((p) => p.key === key)!;
  }

  /** Restores this rank's rows of the moments (from a checkpoint written by any number of ranks) and the step counts. */
  loadState(read: (name: string) => { shape: number[]; data: Float32Array } | undefined, metadata: Record<string, string>, source = 'optimizer state'): void {
    const steps: Record<string, number> = JSON.parse(metadata.steps ?? '{}');
    for (const p of this.parts) this.steps.set(p.key, steps[p.key] ?? 0);
    const mineOf = (name: string) => {
      const t = read(name);
      const p = this.partOf(name);
      if (!t) return undefined;
      const [a, b] = [p.starts[this.c.rank], p.starts[this.c.rank + 1]];
      return { shape: p.full.rank ? [b - a, ...p.full.shape.slice(1)] : [], data: t.data.subarray(a * p.rowSize, b * p.rowSize), full: t.shape };
    };
    this.inner.loadState((name) => {
      const t = mineOf(name);
      if (t && t.full.join(',') !== this.partOf(name).full.shape.join(',')) throw new Error(`${source}: '${name}' has shape [${t.full}], parameter has [${this.partOf(name).full.shape}]`);
      return t;
    }, metadata, source);
    // The parameters were restored before the optimizer: refresh this rank's row copies from them.
    for (const p of this.parts) if (p.slice) tf.tidy(() => p.slice!.assign(rowsOf(p.full, p.starts[this.c.rank], p.starts[this.c.rank + 1])));
  }

  dispose(): void {
    this.inner.dispose();
    for (const p of this.parts) p.slice?.dispose();
  }
}
