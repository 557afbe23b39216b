/**
 * The data phase: which samples each optimizer step trains on. The run reads a DataSource (sources/types.ts): an
 * indexed BatchSource through indexedSource() (each epoch's seeded order, the one-process order cut into the ranks'
 * slices), or a stream (WebDataset shards, a streamed corpus). Its position after each step is kept in the checkpoint.
 */
import { indexedSource } from '../sources/indexed';
import { DataSource, isDataSource, StepData, StepStream } from '../sources/types';
import type { TrainerState } from '../run';
import { BatchSource, Parallel, releaseBatch, TrainConfig } from './types';

/** Steps per epoch and the run's total optimizer steps. */
export function planSteps(size: number, c: Pick<TrainConfig, 'batchSize' | 'epochs' | 'steps' | 'dropLast'>): { perEpoch: number; total: number } {
  if (size <= 0) throw new Error('the training set is empty');
  const perEpoch = c.dropLast ? Math.floor(size / c.batchSize) : Math.ceil(size / c.batchSize);
  if (perEpoch === 0) throw new Error(`batch size ${c.batchSize} exceeds the ${size} samples with dropLast on`);
  if (c.epochs === undefined && c.steps === undefined) throw new Error('set epochs or steps');
  const total = Math.min(c.steps ?? Infinity, c.epochs !== undefined ? Math.ceil(c.epochs * perEpoch) : Infinity);
  return { perEpoch, total };
}

/** The run's data: how long an epoch is, and, once opened at the run's position, its steps in order. */
export interface Feed<B> {
  readonly source: DataSource<B>;
  readonly perEpoch: number;
  readonly total: number;
  /** Opens the source where `state` stands (a stream's saved position, else its epoch and batch). */
  open(state: TrainerState): Promise<StepStream<B>>;
  release(b: B): void;
}

export function createFeed<B>(data: BatchSource<B> | DataSource<B>, c: TrainConfig, parallel: Parallel): Feed<B> {
  const source: DataSource<B> = isDataSource<B>(data) ? data : indexedSource(data);
  const { perEpoch, total } = planSteps(source.samplesPerEpoch, c);
  const plan = { batchSize: c.batchSize, accumSteps: Math.max(1, c.accumSteps ?? 1), seed: c.seed, shuffle: c.shuffle !== false, dropLast: !!c.dropLast, rank: parallel.rank, worldSize: parallel.size };
  return {
    source,
    perEpoch,
    total,
    open: (state) => source.open(plan, state.data ?? { epoch: state.epoch, batchInEpoch: state.batchInEpoch }),
    release: (b) => releaseBatch(source, b),
  };
}

/** The next step's data, fetched ahead while the current step computes (an error surfaces when awaited). */
export function prefetch<B>(stream: StepStream<B>): Promise<StepData<B>> {
  const p = stream.next();
  p.catch(() => undefined);
  return p;
}
