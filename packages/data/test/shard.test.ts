/** --shard i/N: the spec, the job-array defaults (Slurm, Kubernetes Indexed Jobs), the cut and the part names. */
import { resolveShard, shardPath, shardRange } from '../src';

test('i/N as given; N with the index from the job array; nothing from a Slurm array; nothing outside one', () => {
  expect(resolveShard('3/8', {})).toEqual({ index: 3, count: 8 });
  expect(resolveShard(' 0 / 1 ', {})).toEqual({ index: 0, count: 1 });
  expect(resolveShard('8', { JOB_COMPLETION_INDEX: '5' })).toEqual({ index: 5, count: 8 });
  expect(resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '12', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 2, count: 4 });
  expect(resolveShard('4', { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '1' })).toEqual({ index: 2, count: 4 });
  expect(resolveShard(undefined, {})).toBeUndefined();
});

test('bad or incomplete specs are refused, naming the flag and the variables', () => {
  expect(() => resolveShard('8/8', {})).toThrow(/--shard 8\/8: shard index 8 is outside 0..7/);
  expect(() => resolveShard('1/0', {})).toThrow(/number of shards must be a positive integer/);
  expect(() => resolveShard('a/b', {})).toThrow(/--shard must be i\/N/);
  expect(() => resolveShard('4', {})).toThrow(/give the index too \(--shard i\/4\)/);
  expect(() => resolveShard(undefined, { JOB_COMPLETION_INDEX: '2' })).toThrow(/JOB_COMPLETION_INDEX=2 gives this task's index but not the number of tasks; pass --shard N/);
  expect(() => resolveShard('4', { JOB_COMPLETION_INDEX: '4' })).toThrow(/index from JOB_COMPLETION_INDEX=4.*outside 0..3/);
});

test('shards tile the items in order, cut at multiples of the batch size', () => {
  for (const [n, count, align] of [[10, 3, 4], [100, 7, 32], [5, 8, 1], [0, 3, 4], [64, 4, 16]]) {
    const ranges = Array.from({ length: count }, (_, index) => shardRange(n, { index, count }, align));
    expect(ranges[0][0]).toBe(0);
    expect(ranges[count - 1][1]).toBe(n);
    ranges.forEach(([lo, hi], i) => {
      expect(hi).toBeGreaterThanOrEqual(lo);
      if (i > 0) expect(lo).toBe(ranges[i - 1][1]);
      if (i < count - 1) expect(hi % align === 0 || hi === n).toBe(true);
    });
  }
  expect(shardRange(64, { index: 1, count: 4 }, 16)).toEqual([16, 32]);
  expect(shardPath('/x/zs.json', { index: 3, count: 8 })).toBe('/x/zs.json.shard-0003-of-0008');
  expect(shardPath('e.safetensors', { index: 12, count: 12000 })).toBe('e.safetensors.shard-00012-of-12000');
});
