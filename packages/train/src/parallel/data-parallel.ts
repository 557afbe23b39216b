import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import { Collective, LocalCollective, worldCollective } from '@altclip/mpi';
import { AdamW, AdamWOptions } from '../adamw';
import { batchRows, computeGradients, FeatureTask, GradResult } from '../grads';
import { hashInts } from '../rng';
import type { TrainConfig, TrainOptimizer } from '../trainer/types';
import { GradReducer } from './buckets';
import { compareAcrossRanks } from './checksum';
import type { DataParallel, ParallelOptions } from './types';
import { ShardedAdamW } from './zero';

/** Rank r's contiguous part [lo, hi) of n items split over `size` ranks (shares differ by at most one). */
export function rankRange(n: number, rank: number, size: number): [number, number] {
  return [Math.floor((rank * n) / size), Math.floor(((rank + 1) * n) / size)];
}

/** The dropout key of the sample at position `pos` of step `step`'s global batch. */
export function sampleKey(seed: number, step: number, pos: number): number {
  return hashInts(seed, step, pos, 0xd0);
}

class CollectiveParallel implements DataParallel {
  readonly rank: number;
  readonly size: number;
  readonly isWriter: boolean;
  private reducer?: GradReducer;
  private reducerKeys = '';

  constructor(
    readonly collective: Collective,
    readonly options: Readonly<ParallelOptions>,
  ) {
    this.rank = collective.rank;
    this.size = collective.size;
    this.isWriter = collective.rank === 0;
  }

  validate(c: Pick<TrainConfig, 'batchSize' | 'accumSteps'>): void {
    if (c.batchSize % this.size !== 0)
      throw new Error(`--batch-size ${c.batchSize} is the global batch; it must be divisible by the ${this.size} ranks (each takes batch/${this.size}): use a multiple of ${this.size}`);
    const share = c.batchSize / this.size;
    const accum = c.accumSteps ?? 1;
    if (accum > share) throw new Error(`--accum-steps ${accum} splits each rank's ${share} samples (batch ${c.batchSize} / ${this.size} ranks) into more micro-batches than samples`);
  }

  describe(batchSize: number): string {
    return `data parallel: ${this.collective.description}; ${batchSize / this.size} samples per rank and step${this.options.shardOptimizer ? ', optimizer state sharded (ZeRO-1)' : ''}${this.options.localLoss ? ', local loss' : ''}`;
  }

  /**
   * Dropout keys come from each sample's position among the global batch's usable rows (ranks in order, then
   * micro-batches), so a sample's masks do not depend on N or --accum-steps.
   */
  async gradients<B>(task: FeatureTask<B>, params: Map<string, tf.Variable>, micro: B[], ctx: { step: number; seed: number }): Promise<GradResult> {
    const c = this.collective;
    const sizes = micro.map((b) => {
      const n = batchRows(task, b);
      if (n === undefined && c.size > 1) throw new Error('data parallelism needs the samples in a batch: give the batch a [rows, ...] tensor property or the task a rows() method');
      return n;
    });
    const rows = sizes.reduce<number>((s, n) => s + (n ?? NaN), 0);
    const counts = c.size > 1 ? Array.from(c.allgatherv(Float32Array.of(rows), Array(c.size).fill(1), `rows per rank, step ${ctx.step + 1}`)) : [rows];
    const starts: number[] = [];
    let pos = counts.slice(0, this.rank).reduce((s, n) => s + n, 0);
    for (const n of sizes) {
      starts.push(pos);
      pos += n ?? 0;
    }
    const reducer = c.size > 1 ? this.reducerFor(params) : undefined;
    reducer?.begin(ctx.step);
    const overlap = !!reducer && (this.options.overlap ?? os.availableParallelism() > 1) && micro.length === 1;
    const g = computeGradients(task, params, micro, { step: ctx.step, seed: hashInts(ctx.seed, ctx.step), training: true }, {
      keys: (i, n) => Array.from({ length: n }, (_, k) => sampleKey(ctx.seed, ctx.step, starts[i] + k)),
      collective: c,
      counts,
      localLoss: this.options.localLoss,
      onGrad: overlap ? (i, t) => reducer!.ready(i, t) : undefined,
    });
    const grads = reducer ? await reducer.finish(g.grads) : g.grads;
    const names = Object.keys(g.terms);
    const v = new Float64Array([g.loss, ...names.map((k) => g.terms[k])]);
    if (c.size > 1) c.allreduce(v, `loss of step ${ctx.step + 1}`);
    return { loss: v[0], terms: Object.fromEntries(names.map((k, i) => [k, v[i + 1]])), grads };
  }

  /** One reducer per parameter set (its buckets follow the parameters' order and sizes). */
  private reducerFor(params: Map<string, tf.Variable>): GradReducer {
    const keys = [...params.keys()];
    const id = keys.join('\n');
    if (!this.reducer || this.reducerKeys !== id) {
      this.reducer = new GradReducer(this.collective, keys, keys.map((k) => params.get(k)!.shape), this.options.bucketMB);
      this.reducerKeys = id;
    }
    return this.reducer;
  }

  optimizer(params: Map<string, tf.Variable>, opts: AdamWOptions): TrainOptimizer {
    return this.options.shardOptimizer && this.size > 1 ? new ShardedAdamW(params, opts, this.collective) : new AdamW(params, opts);
  }

  async checkInSync(params: Map<string, tf.Variable>, when: string): Promise<void> {
    const msg = compareAcrossRanks(params, this.collective, when);
    // Every rank has the message; rank 0 prints it, the others end quietly.
    if (msg) this.collective.abort(this.isWriter ? `altclip: ${msg}` : '', 65);
  }

  agree(flag: boolean, label: string): boolean {
    if (this.size === 1) return flag;
    const v = Float64Array.of(flag ? 1 : 0);
    this.collective.allreduce(v, label);
    return v[0] > 0;
  }

  async checkpoint(opt: TrainOptimizer, write: () => Promise<string>): Promise<string | undefined> {
    if (this.isWriter) return write();
    if (opt instanceof ShardedAdamW) await opt.serveState();
    return undefined;
  }

  itemRange(n: number): [number, number] {
    return rankRange(n, this.rank, this.size);
  }

  fail(error: unknown): never {
    if (this.size === 1) throw error;
    const e = error as Error;
    return this.collective.abort(`altclip: rank ${this.rank} failed: ${e?.message ?? String(error)}`, 1);
  }
}

/**
 * The data parallelism of this process: over MPI when mpirun/srun started it (rank and size from MPI), else one
 * process (every method the one-process behaviour).
 */
export function createDataParallel(o: ParallelOptions & { collective?: Collective } = {}): DataParallel {
  const { collective, ...options } = o;
  return new CollectiveParallel(collective ?? worldCollective(), options);
}

/** One process, whatever launched it (tests, library use). */
export function singleProcess(o: ParallelOptions = {}): DataParallel {
  return new CollectiveParallel(new LocalCollective(), o);
}
