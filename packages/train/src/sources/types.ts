/**
 * What the training loop pulls data through. A DataSource opens a StepStream for one process (rank) of a run; each
 * next() is one optimizer step's data for this rank: its slice of the global batch, already split into the
 * micro-batches of gradient accumulation, with the position after the step (JSON, kept in the checkpoint) so a
 * resumed run continues with exactly the next step. Indexed data (a pairs file, a corpus in memory) becomes a
 * DataSource through indexedSource(); streams (WebDataset shards, a streamed corpus) implement it directly.
 */

/** How the trainer reads: fixed for a run (a resumed run must use the same values, and the same worldSize for streams). */
export interface StreamPlan {
  /** Global batch (all ranks, all micro-batches). */
  batchSize: number;
  accumSteps: number;
  seed: number;
  shuffle: boolean;
  dropLast: boolean;
  /** Data-parallel rank and number of ranks (1 process: 0 and 1). */
  rank: number;
  worldSize: number;
}

/** Epoch and batch of the next step. */
export interface EpochPosition {
  epoch: number;
  /** Steps of `epoch` already taken. */
  batchInEpoch: number;
}

export interface StepData<B> {
  /** This rank's micro-batches (unusable ones, e.g. every image unreadable, left out; empty: skip the step). */
  micro: B[];
  /** Samples the step covers across all ranks (positions, usable or not): the progress and samples/s count. */
  samples: number;
  /** Where the run stands after this step. */
  after: EpochPosition;
  /** The source's full position after this step (JSON): pass it to open() to continue from here. */
  position: unknown;
}

export interface StepStream<B> {
  next(): Promise<StepData<B>>;
  close(): Promise<void>;
}

export interface DataSource<B> {
  /** Samples in one epoch, across ranks (the epoch a schedule and --epochs count). */
  readonly samplesPerEpoch: number;
  /** Steps from the start, or from a position a StepData gave (or a checkpoint without one: its epoch and batch). */
  open(plan: StreamPlan, position?: unknown): Promise<StepStream<B>>;
  /** Frees a micro-batch after its step (default: disposes the tf.Tensors among its own properties). */
  release?(batch: B): void;
}

export function isDataSource<B>(x: unknown): x is DataSource<B> {
  return !!x && typeof (x as DataSource<B>).open === 'function' && typeof (x as DataSource<B>).samplesPerEpoch === 'number';
}

/** Splits a rank's share of a step into `accum` micro-batches (ceil-sized chunks, as the one-process trainer did). */
export function microChunks<T>(items: T[], accum: number): T[][] {
  const per = Math.max(1, Math.ceil(items.length / Math.max(1, accum)));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += per) out.push(items.slice(i, i + per));
  return out;
}

/** The position after a step: the next batch, or the first of the next epoch. */
export function advance(p: EpochPosition, stepsPerEpoch: number): EpochPosition {
  return p.batchInEpoch + 1 >= stepsPerEpoch ? { epoch: p.epoch + 1, batchInEpoch: 0 } : { epoch: p.epoch, batchInEpoch: p.batchInEpoch + 1 };
}

/** A checkpoint's position as an EpochPosition (numbers checked: a hand-edited trainer_state.json fails here). */
export function epochPositionOf(p: unknown, what = 'data position'): EpochPosition {
  const o = (p ?? { epoch: 0, batchInEpoch: 0 }) as Partial<EpochPosition>;
  if (!Number.isInteger(o.epoch) || !Number.isInteger(o.batchInEpoch) || o.epoch! < 0 || o.batchInEpoch! < 0)
    throw new Error(`${what}: expected {epoch, batchInEpoch} as integers >= 0, got ${JSON.stringify(p)}`);
  return { epoch: o.epoch!, batchInEpoch: o.batchInEpoch! };
}
