/** The one-process parts of data parallelism: how batches and parameters are cut over ranks. */
import { LocalCollective } from '@altclip/mpi';
import { createDataParallel, partitionRows, rankRange } from '../src';
import { indexedSource } from '../src/sources/indexed';

/** Rank `rank` of `size` as far as slicing goes (no communication happens in these tests). */
const ranks = (rank: number, size: number) => Object.assign(new LocalCollective(), { rank, size });

test('rank r takes a contiguous slice of every global batch, in the one-process order, cut further into micro-batches', async () => {
  const src = indexedSource<number[]>({ size: 12, batch: (idx) => idx.map((i) => 100 + i) });
  const slices = await Promise.all(
    [0, 1, 2].map(async (rank) => (await (await src.open({ batchSize: 12, accumSteps: 2, seed: 0, shuffle: false, dropLast: false, rank, worldSize: 3 })).next()).micro),
  );
  expect(slices).toEqual([
    [[100, 101], [102, 103]],
    [[104, 105], [106, 107]],
    [[108, 109], [110, 111]],
  ]);
  // Evaluation items: shares differ by at most one and still cover them once.
  expect([0, 1, 2].map((r) => rankRange(7, r, 3))).toEqual([[0, 2], [2, 4], [4, 7]]);
});

test('the global batch must divide over the ranks; accumulation must leave every micro-batch a sample', () => {
  const dp = createDataParallel({ collective: ranks(0, 4) });
  expect(() => dp.validate({ batchSize: 10 })).toThrow(/--batch-size 10 is the global batch; it must be divisible by the 4 ranks/);
  expect(() => dp.validate({ batchSize: 8, accumSteps: 4 })).toThrow(/--accum-steps 4 splits each rank's 2 samples/);
  expect(() => dp.validate({ batchSize: 8, accumSteps: 2 })).not.toThrow();
});

test('ZeRO-1 partition: every row of every parameter has exactly one owner, each rank about 1/N of the values', () => {
  const shapes = [[250, 32], [32], [], [40, 32], [37, 32], [4, 4, 3, 3], [1000, 8]];
  for (const size of [1, 2, 3, 4, 7]) {
    const starts = partitionRows(shapes, size);
    const per = new Array(size).fill(0);
    shapes.forEach((sh, i) => {
      const rows = sh.length ? sh[0] : 1;
      const rowSize = sh.length ? sh.slice(1).reduce((a, b) => a * b, 1) : 1;
      expect(starts[i][0]).toBe(0);
      expect(starts[i][size]).toBe(rows);
      for (let r = 0; r < size; r++) {
        expect(starts[i][r + 1]).toBeGreaterThanOrEqual(starts[i][r]);
        per[r] += (starts[i][r + 1] - starts[i][r]) * rowSize;
      }
    });
    const total = per.reduce((a, b) => a + b, 0);
    // Each of a rank's two cuts moves by less than one row (36 values at most here).
    for (const p of per) expect(Math.abs(p - total / size)).toBeLessThan(2 * 36);
  }
});
