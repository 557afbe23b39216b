/**
 * One schema for every numeric/boolean option of the training stages and the CLI (keys in camelCase, as in config
 * files). The CLI checks flags against it before any work; the stages check the merged config (file + flags) again,
 * so a bad value in a --config file or from library code is refused the same way.
 */
export interface NumberRule {
  /** A whole number. */
  int?: boolean;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive lower bound. */
  gt?: number;
  /** Extra condition: returns what is wrong (the end of "must be ..."), or undefined. */
  extra?: (v: number) => string | undefined;
}

const UINT32_MAX = 2 ** 32 - 1;

export const NUMBER_RULES: Record<string, NumberRule> = {
  seed: { int: true, min: 0, max: UINT32_MAX },
  batchSize: { int: true, min: 1 },
  accumSteps: { int: true, min: 1 },
  epochs: { gt: 0 },
  steps: { int: true, min: 1 },
  lr: { min: 0 },
  minLr: { min: 0 },
  warmup: { min: 0, extra: (v) => (v >= 1 && !Number.isInteger(v) ? 'a whole number of steps when >= 1 (below 1 it is a fraction of the run)' : undefined) },
  eps: { gt: 0 },
  weightDecay: { min: 0 },
  gradClip: { min: 0 },
  logitScaleMax: { gt: 0 },
  logEvery: { int: true, min: 0 },
  checkpointEvery: { int: true, min: 0 },
  keepLast: { int: true, min: 0 },
  evalEvery: { int: true, min: 0 },
  maxLength: { int: true, min: 2 },
  teacherMaxLength: { int: true, min: 2 },
  unlockedTextLayers: { int: true, min: 0 },
  unlockedImageLayers: { int: true, min: 0 },
  limit: { int: true, min: 1 },
  evalLimit: { int: true, min: 1 },
  maxPixels: { int: true, min: 0 },
  shuffleBuffer: { int: true, min: 0 },
  trainNumSamples: { int: true, min: 1 },
  workers: { int: true, min: 0 },
  teacherCacheRows: { int: true, min: 1 },
};

export const BOOLEAN_KEYS = new Set([
  'shuffle', 'dropLast', 'dropout', 'freezeEmbeddings', 'freezeLogitScale', 'lockImage', 'lockText', 'enEn', 'download', 'allowNonfinite', 'gradCheckpointing',
  'datasetResampled', 'cacheTeacherOnly',
]);

function describeRule(r: NumberRule): string {
  const parts: string[] = [];
  if (r.gt !== undefined) parts.push(`> ${r.gt}`);
  if (r.min !== undefined) parts.push(`>= ${r.min}`);
  if (r.max !== undefined) parts.push(`<= ${r.max}`);
  return `${r.int ? 'an integer' : 'a finite number'}${parts.length ? ' ' + parts.join(' and ') : ''}`;
}

/** What is wrong with `v` under rule `r` ("must be ..."), or undefined when it is fine. */
export function checkNumber(v: unknown, r: NumberRule): string | undefined {
  const bad = `must be ${describeRule(r)}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) return bad;
  if (r.int && !Number.isInteger(v)) return bad;
  if (r.gt !== undefined && !(v > r.gt)) return bad;
  if (r.min !== undefined && v < r.min) return bad;
  if (r.max !== undefined && v > r.max) return bad;
  const e = r.extra?.(v);
  return e ? `must be ${e}` : undefined;
}

/** AdamW betas: two numbers in [0, 1). */
export function checkBetas(v: unknown): string | undefined {
  if (!Array.isArray(v) || v.length !== 2) return 'must be two numbers in [0, 1), e.g. 0.9 0.999';
  if (!v.every((b) => typeof b === 'number' && Number.isFinite(b) && b >= 0 && b < 1)) return 'must be two numbers in [0, 1), e.g. 0.9 0.999';
  return undefined;
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number') return String(v); // JSON.stringify(NaN) would say null
  if (Array.isArray(v)) return v.map(show).join(' ');
  return JSON.stringify(v) ?? String(v);
}

/**
 * Problems of the known keys in `o`, one line each, named by `name(key)` (e.g. "--batch-size" or
 * "batchSize in cfg.json"). Unknown keys are left alone.
 */
export function optionProblems(o: Record<string, unknown>, name: (key: string) => string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    let why: string | undefined;
    if (NUMBER_RULES[k]) why = checkNumber(v, NUMBER_RULES[k]);
    else if (k === 'betas') why = checkBetas(v);
    else if (BOOLEAN_KEYS.has(k) && typeof v !== 'boolean') why = 'must be true or false';
    if (why) out.push(`${name(k)} ${why}, got ${show(v)}`);
  }
  return out;
}

/** Throws one error listing every bad option (one line each). */
export function validateOptions(o: Record<string, unknown>, name: (key: string) => string = (k) => k): void {
  const p = optionProblems(o, name);
  if (p.length) throw new Error(p.join('\n'));
}

/** camelCase key -> --kebab-case flag. */
export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
}
