/**
 * `--shard i/N` for job arrays (Slurm `--array`, Kubernetes Indexed Jobs): shard i of N takes a contiguous part of
 * the items, writes it as a part file beside `--out`, and `merge` joins the N parts into what one run writes.
 */
export interface Shard {
  /** 0-based. */
  index: number;
  count: number;
}

/** The job array's index and size from the environment, where the scheduler sets them (undefined: not in one). */
export function shardFromEnv(env: NodeJS.ProcessEnv = process.env): { index: number; count?: number; from: string } | undefined {
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const id = Number(env.SLURM_ARRAY_TASK_ID);
    const min = Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
    const count = env.SLURM_ARRAY_TASK_COUNT !== undefined ? Number(env.SLURM_ARRAY_TASK_COUNT) : undefined;
    return { index: id - min, count, from: `SLURM_ARRAY_TASK_ID=${id} - SLURM_ARRAY_TASK_MIN=${min}${count !== undefined ? `, SLURM_ARRAY_TASK_COUNT=${count}` : ''}` };
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) return { index: Number(env.JOB_COMPLETION_INDEX), from: `JOB_COMPLETION_INDEX=${env.JOB_COMPLETION_INDEX}` };
  return undefined;
}

function checked(index: number, count: number, what: string): Shard {
  if (!Number.isInteger(count) || count < 1) throw new Error(`${what}: the number of shards must be a positive integer, got ${count}`);
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new Error(`${what}: shard index ${index} is outside 0..${count - 1}`);
  return { index, count };
}

/**
 * The shard to run: `i/N` as given; `N` alone takes i from the job array (JOB_COMPLETION_INDEX, or SLURM_ARRAY_TASK_ID -
 * SLURM_ARRAY_TASK_MIN); no spec takes both from a Slurm array (SLURM_ARRAY_TASK_COUNT) and is undefined outside one.
 */
export function resolveShard(spec: string | number | undefined, env: NodeJS.ProcessEnv = process.env, what = '--shard'): Shard | undefined {
  const fromEnv = shardFromEnv(env);
  if (spec === undefined || spec === '') {
    if (!fromEnv) return undefined;
    if (fromEnv.count === undefined) throw new Error(`${what}: ${fromEnv.from} gives this task's index but not the number of tasks; pass ${what} N (the number of completions)`);
    return checked(fromEnv.index, fromEnv.count, `${what} (from ${fromEnv.from})`);
  }
  const s = String(spec).trim();
  const m = /^(\d+)\s*\/\s*(\d+)$/.exec(s);
  if (m) return checked(Number(m[1]), Number(m[2]), `${what} ${s}`);
  if (/^\d+$/.test(s)) {
    if (!fromEnv) throw new Error(`${what} ${s}: give the index too (${what} i/${s}); no job array index (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID) is set`);
    return checked(fromEnv.index, Number(s), `${what} ${s} (index from ${fromEnv.from})`);
  }
  throw new Error(`${what} must be i/N (e.g. 3/8: the fourth of 8 shards) or N with the index from the job array, got '${s}'`);
}

/**
 * Shard `s`'s contiguous part [lo, hi) of n items. Cuts fall on multiples of `align` (the batch size), so every batch
 * a shard computes is one the unsharded run computes too, and the merged numbers are the same bits.
 */
export function shardRange(n: number, s: Shard, align = 1): [number, number] {
  const blocks = Math.ceil(n / align);
  const cut = (i: number) => Math.min(n, Math.floor((i * blocks) / s.count) * align);
  return [cut(s.index), s.index === s.count - 1 ? n : cut(s.index + 1)];
}

/** Where shard `s` of a run whose output is `out` writes its part: `<out>.shard-0003-of-0008`. */
export function shardPath(out: string, s: Shard): string {
  const w = Math.max(4, String(s.count).length);
  return `${out}.shard-${String(s.index).padStart(w, '0')}-of-${String(s.count).padStart(w, '0')}`;
}
