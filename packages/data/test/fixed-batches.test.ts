/** inFixedBatches: features computed in one row count whatever the grouping (issue 24, item 11). */
import { inFixedBatches } from '@altclip/data';

/** A "tower" whose rows depend on the row count of the call, as a GEMM picked by row count can: y = 3x * (1 + n 2^-20). */
const countDependent = (calls: number[]) => (chunk: Float32Array, n: number) => {
  calls.push(n);
  const per = chunk.length / n;
  const out = new Float32Array(n * 2);
  for (let r = 0; r < n; r++) {
    const x = chunk[r * per] + 2 * chunk[r * per + 1];
    out[2 * r] = Math.fround(3 * x * (1 + n * 2 ** -20));
    out[2 * r + 1] = Math.fround(x - 1);
  }
  return out;
};

const rowsOf = (ids: number[]) => Float32Array.from(ids.flatMap((i) => [i, i / 7, -i]));

test('every call gets exactly `batch` rows; the last batch is padded with copies of its last row; outputs in order', () => {
  const calls: number[] = [];
  const seen: number[][] = [];
  const { data, dim } = inFixedBatches(rowsOf([1, 2, 3, 4, 5]), 5, 4, (chunk, n) => {
    calls.push(n);
    seen.push(Array.from({ length: n }, (_, r) => chunk[r * 3]));
    return Float32Array.from(Array.from({ length: n }, (_, r) => [chunk[r * 3] * 10, chunk[r * 3] * 100]).flat());
  });
  expect(calls).toEqual([4, 4]);
  expect(seen).toEqual([[1, 2, 3, 4], [5, 5, 5, 5]]);
  expect(dim).toBe(2);
  expect(Array.from(data)).toEqual([10, 100, 20, 200, 30, 300, 40, 400, 50, 500]);
  expect(inFixedBatches(new Float32Array(0), 0, 4, () => new Float32Array(0))).toEqual({ data: new Float32Array(0), dim: 0 });
  expect(() => inFixedBatches(rowsOf([1]), 1, 0, () => new Float32Array(0))).toThrow('batch must be an integer >= 1, got 0');
});

test("a sample's outputs do not depend on what it was computed with (grouping, position, how many were missing)", () => {
  const ids = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const feature = (groups: number[][], fixed: boolean) => {
    const calls: number[] = [];
    const byId = new Map<number, number[]>();
    for (const g of groups) {
      const out = fixed ? inFixedBatches(rowsOf(g), g.length, 4, countDependent(calls)).data : countDependent(calls)(rowsOf(g), g.length);
      g.forEach((id, r) => byId.set(id, Array.from(out.subarray(2 * r, 2 * r + 2))));
    }
    return { byId, calls };
  };
  // An uninterrupted run's first epoch, and a resumed run that fills its cache in other groups of other sizes.
  const epoch = [[3, 7, 1, 9], [0, 10, 4, 2], [8, 6, 5]];
  const resumed = [[8, 6, 5], [7, 2], [0, 3, 4, 9, 1, 10]];
  const a = feature(epoch, true);
  const b = feature(resumed, true);
  for (const id of ids) expect({ id, f: b.byId.get(id) }).toEqual({ id, f: a.byId.get(id) });
  expect(new Set([...a.calls, ...b.calls])).toEqual(new Set([4]));
  // Without it the same groups give other bits: the drift a resumed run showed.
  const naiveA = feature(epoch, false).byId;
  const naiveB = feature(resumed, false).byId;
  expect(ids.filter((id) => naiveA.get(id)![0] !== naiveB.get(id)![0]).length).toBeGreaterThan(0);
});
