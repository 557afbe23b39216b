/** Which samples each optimizer step trains on: the data-order phase of the trainer. */
import { epochPermutation } from '@altclip/data';
import { BatchSource, Parallel, releaseBatch, TrainConfig } from './types';

/** Where a run is in its data: the epoch, and the batches of it already consumed. */
export interface Position {
  epoch: number;
  batchInEpoch: number;
}

/** One optimizer step's data: this process's micro-batches (unusable ones left out) and the global batch's size. */
export interface StepBatches<B> {
  micro: B[];
  n: number;
}

/** A source of step batches the trainer reads in order, with a position it can save and resume. */
export interface Feed<B> {
  /** Optimizer steps per epoch and in all. */
  readonly perEpoch: number;
  readonly total: number;
  fetch(pos: Position): Promise<StepBatches<B>>;
  next(pos: Position): Position;
  release(b: B): void;
}

/** Steps per epoch and the run's total optimizer steps. */
export function planSteps(size: number, c: Pick<TrainConfig, 'batchSize' | 'epochs' | 'steps' | 'dropLast'>): { perEpoch: number; total: number } {
  if (size <= 0) throw new Error('the training set is empty');
  const perEpoch = c.dropLast ? Math.floor(size / c.batchSize) : Math.ceil(size / c.batchSize);
  if (perEpoch === 0) throw new Error(`batch size ${c.batchSize} exceeds the ${size} samples with dropLast on`);
  if (c.epochs === undefined && c.steps === undefined) throw new Error('set epochs or steps');
  const total = Math.min(c.steps ?? Infinity, c.epochs !== undefined ? Math.ceil(c.epochs * perEpoch) : Infinity);
  return { perEpoch, total };
}

/**
 * Step batches from a random-access source: each epoch's seeded order (a pure function of seed and epoch, so a
 * resumed run continues it) cut into global batches; this process's share of each cut into accumulation
 * micro-batches.
 */
export function indexedFeed<B>(data: BatchSource<B>, c: TrainConfig, parallel: Parallel): Feed<B> {
  const { perEpoch, total } = planSteps(data.size, c);
  const accum = Math.max(1, c.accumSteps ?? 1);
  let order: { epoch: number; idx: number[] } | undefined;
  const batchIndices = (pos: Position) => {
    if (order?.epoch !== pos.epoch) order = { epoch: pos.epoch, idx: epochPermutation(data.size, c.seed, pos.epoch, c.shuffle !== false) };
    return order.idx.slice(pos.batchInEpoch * c.batchSize, (pos.batchInEpoch + 1) * c.batchSize);
  };
  return {
    perEpoch,
    total,
    fetch(pos) {
      const idx = batchIndices(pos);
      const mine = parallel.shard(idx);
      const per = Math.ceil(mine.length / accum);
      const chunks: number[][] = [];
      for (let i = 0; i < mine.length; i += per) chunks.push(mine.slice(i, i + per));
      const p = Promise.all(chunks.map((ch) => data.batch(ch))).then((all) => ({
        micro: all.filter((b): b is Awaited<B> => b !== null && b !== undefined) as B[],
        n: idx.length,
      }));
      p.catch(() => undefined); // surfaced when awaited
      return p;
    },
    next: (s) => (s.batchInEpoch + 1 >= perEpoch ? { epoch: s.epoch + 1, batchInEpoch: 0 } : { epoch: s.epoch, batchInEpoch: s.batchInEpoch + 1 }),
    release: (b) => releaseBatch(data, b),
  };
}
