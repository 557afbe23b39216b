/**
 * The communication a data-parallel run needs, independent of how the processes were started. `LocalCollective` is
 * the one-process case (every op is the identity); `MpiCollective` (./mpi.ts) runs the ops over MPI.
 * Every rank must issue the same ops in the same order (as with any MPI program); labels name the op in errors and
 * in the hang watchdog's message.
 */
export type NumericBuffer = Float32Array | Float64Array;

export interface Collective {
  /** This process's rank, 0..size-1 (from MPI, never from a flag). */
  readonly rank: number;
  readonly size: number;
  /** For logs: 'one process' or the MPI library, ranks and hosts. */
  readonly description: string;
  /** In-place sum over ranks, blocking. */
  allreduce(buf: NumericBuffer, label: string): void;
  /** In-place sum over ranks on the communication thread; queued behind earlier ops, so JS can keep computing. */
  allreduceAsync(buf: NumericBuffer, label: string): Promise<void>;
  /** Every rank's `local` in rank order; `counts[r]` elements come from rank r (counts.length === size). */
  allgatherv(local: Float32Array, counts: number[], label: string): Float32Array;
  /** `root`'s buffer into every rank's, in place. */
  broadcast(buf: NumericBuffer | Uint8Array | Int32Array, root: number, label: string): void;
  /** Resolves when every rank has reached it (the event loop keeps running meanwhile: signals are still seen). */
  barrier(label: string): Promise<void>;
  /** Prints `message` and ends the job on every rank with exit status `code`. */
  abort(message: string, code?: number): never;
  /** Seconds inside MPI and bytes moved so far (zero in one process). */
  stats(): { seconds: number; bytes: number; ops: number };
  /** Ends MPI (once, at exit). */
  finalize(): void;
}

/** One process: sums and gathers over a single rank. */
export class LocalCollective implements Collective {
  readonly rank = 0;
  readonly size = 1;
  readonly description = 'one process';
  allreduce(): void {}
  allreduceAsync(): Promise<void> {
    return Promise.resolve();
  }
  allgatherv(local: Float32Array, counts: number[], label: string): Float32Array {
    if (counts.length !== 1 || counts[0] !== local.length) throw new Error(`${label}: counts [${counts}] do not describe one rank of ${local.length} elements`);
    return local;
  }
  broadcast(): void {}
  barrier(): Promise<void> {
    return Promise.resolve();
  }
  abort(message: string): never {
    throw new Error(message);
  }
  stats() {
    return { seconds: 0, bytes: 0, ops: 0 };
  }
  finalize(): void {}
}
