import { epochBatches, Positioned, RankStream, RankStreamState, rankRange, RecordSource, sliceSize } from '@altclip/data';
import { advance, DataSource, EpochPosition, epochPositionOf, microChunks, StepData, StepStream, StreamPlan } from './types';

export interface RecordStreamOptions<R, B> {
  source: RecordSource<R>;
  /** Samples per epoch across ranks (--train-num-samples); default one pass over the data. */
  samplesPerEpoch?: number;
  /** Records held for mixing (0: file order). */
  shuffleBuffer?: number;
  /** Units drawn with replacement (--dataset-resampled): epochs are then virtual, samplesPerEpoch long. */
  resampled?: boolean;
  /** One micro-batch from its records (null: nothing usable in them). */
  build: (records: Positioned<R>[]) => Promise<B | null>;
  release?: (b: B) => void;
}

interface StreamPosition extends EpochPosition {
  stream: RankStreamState;
  /** Ranks the position was written with: a stream resumes only on the same number. */
  worldSize: number;
}

/**
 * A DataSource over a RecordSource read by a RankStream. Rank r takes the r-th slice of every global batch from its
 * own stream; its stream's share of each pass is what those slices add up to over an epoch of one pass, so with the
 * default epoch every record is read exactly once per epoch across the ranks (resampled: by draws, open_clip-style).
 */
export function recordStreamSource<R, B>(o: RecordStreamOptions<R, B>): DataSource<B> {
  const pass = o.source.units.reduce((a, u) => a + u.size, 0);
  const samplesPerEpoch = o.samplesPerEpoch ?? pass;
  if (!(Number.isInteger(samplesPerEpoch) && samplesPerEpoch >= 1)) throw new Error(`train-num-samples must be an integer >= 1, got ${o.samplesPerEpoch}`);
  return {
    samplesPerEpoch,
    release: o.release,
    async open(plan: StreamPlan, position?: unknown): Promise<StepStream<B>> {
      const { steps, size } = epochBatches(samplesPerEpoch, plan.batchSize, plan.dropLast);
      const stream = new RankStream(o.source, {
        seed: plan.seed,
        shuffleUnits: plan.shuffle,
        shuffleBuffer: o.shuffleBuffer,
        resampled: o.resampled,
        rank: plan.rank,
        range: o.resampled ? undefined : rankRange(pass, plan.batchSize, plan.rank, plan.worldSize, plan.dropLast),
      });
      let pos = epochPositionOf(position);
      const saved = position as Partial<StreamPosition> | undefined;
      if (saved?.stream) {
        if (saved.worldSize !== plan.worldSize)
          throw new Error(`cannot resume a streamed data position written by ${saved.worldSize} rank(s) on ${plan.worldSize}: a stream resumes on the same number of ranks`);
        await stream.restore(saved.stream);
      } else if (pos.epoch || pos.batchInEpoch) {
        throw new Error(`cannot resume a stream at epoch ${pos.epoch}, batch ${pos.batchInEpoch}: the checkpoint has no stream position (it was written reading indexed data)`);
      }
      // Pulls are chained: a prefetched step never interleaves its records with the step before it.
      let chain: Promise<unknown> = Promise.resolve();
      const pull = (n: number): Promise<{ recs: Positioned<R>[]; state: RankStreamState }> => {
        const p = chain.then(async () => {
          const recs: Positioned<R>[] = [];
          for (let i = 0; i < n; i++) recs.push(await stream.next());
          return { recs, state: stream.state() };
        });
        chain = p.catch(() => undefined);
        return p;
      };
      return {
        async next(): Promise<StepData<B>> {
          const b = size(pos.batchInEpoch);
          pos = advance(pos, steps);
          const after = pos;
          const { recs, state } = await pull(sliceSize(b, plan.rank, plan.worldSize));
          const all = await Promise.all(microChunks(recs, plan.accumSteps).map((ch) => o.build(ch)));
          const micro = all.filter((m): m is Awaited<B> => m !== null && m !== undefined) as B[];
          const position: StreamPosition = { ...after, stream: state, worldSize: plan.worldSize };
          return { micro, samples: b, after, position };
        },
        close: () => stream.close(),
      };
    },
  };
}
