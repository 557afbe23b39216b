import type { Collective } from '@altclip/mpi';
import type { Parallel } from '../trainer/types';

/** Options of data-parallel training (command-line names in docs/data-parallel.md). */
export interface ParallelOptions {
  /** --local-loss: each rank's rows against the global batch instead of the B x B loss on every rank (less memory). */
  localLoss?: boolean;
  /** --shard-optimizer: ZeRO stage 1, 1/N of the AdamW moments per rank. */
  shardOptimizer?: boolean;
  /** Gradient bucket size in MiB (default 25, as PyTorch DDP). */
  bucketMB?: number;
  /**
   * Start each bucket's allreduce during the backward pass. Default: when this rank may use more than one CPU (MPI
   * spins while it waits, so on a rank bound to one core the communication thread would take turns with the compute).
   */
  overlap?: boolean;
}

/**
 * The trainer's Parallel hooks over a Collective: N ranks each take a contiguous slice of every global batch and
 * together compute exactly what one process computes on the whole batch. With one rank every method is the
 * one-process behaviour.
 */
export interface DataParallel extends Parallel {
  readonly collective: Collective;
  readonly options: Readonly<ParallelOptions>;
  /** This rank's contiguous part [start, end) of n items (evaluation images, teacher texts). */
  itemRange(n: number): [number, number];
  /** One line for the log: the MPI library, ranks, and the per-rank share of a batch of `batchSize`. */
  describe(batchSize: number): string;
}
