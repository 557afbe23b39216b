import { epochBatches, sliceSize, sliceStart } from '@altclip/data';
import { epochPermutation } from '../rng';
import type { BatchSource } from '../trainer';
import { advance, DataSource, epochPositionOf, microChunks, StepData, StreamPlan } from './types';

/**
 * Random-access data as a DataSource: epoch e's order is epochPermutation(size, seed, e) (identity without shuffle);
 * step k takes positions [kB, (k+1)B) of it, rank r the r-th of N contiguous slices of that batch (the one-process
 * order cut into N), split into micro-batches. The position is {epoch, batchInEpoch}, so it resumes on any N.
 */
export function indexedSource<B>(data: BatchSource<B>): DataSource<B> {
  return {
    samplesPerEpoch: data.size,
    release: data.release?.bind(data),
    async open(plan: StreamPlan, position?: unknown) {
      const { steps, size } = epochBatches(data.size, plan.batchSize, plan.dropLast);
      let pos = epochPositionOf(position);
      let perm: { epoch: number; order: number[] } | undefined;
      return {
        async next(): Promise<StepData<B>> {
          if (perm?.epoch !== pos.epoch) perm = { epoch: pos.epoch, order: epochPermutation(data.size, plan.seed, pos.epoch, plan.shuffle) };
          const b = size(pos.batchInEpoch);
          const first = pos.batchInEpoch * plan.batchSize + sliceStart(b, plan.rank, plan.worldSize);
          const mine = perm.order.slice(first, first + sliceSize(b, plan.rank, plan.worldSize));
          pos = advance(pos, steps);
          const after = pos;
          const all = await Promise.all(microChunks(mine, plan.accumSteps).map((ch) => data.batch(ch)));
          const micro = all.filter((m): m is Awaited<B> => m !== null && m !== undefined) as B[];
          return { micro, samples: b, after, position: after };
        },
        close: async () => undefined,
      };
    },
  };
}
