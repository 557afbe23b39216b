/**
 * Learning-rate schedules as pure functions of the optimizer step.
 *
 * Convention: `t` is the number of optimizer steps already taken (0 for the first update). FlagAI's AnnealingLR is
 * built with num_iters = 0 and stepped after every update, so its first update also uses lr(0); the same convention
 * keeps the formulas below identical to the reference.
 */

export const SCHEDULES = ['cosine', 'linear', 'constant', 'flagai-cosine', 'flagai-linear'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

export interface ScheduleConfig {
  name: ScheduleName;
  /** Peak learning rate. */
  lr: number;
  /** Warmup steps (linear ramp). */
  warmupSteps: number;
  /** Total optimizer steps of the run (FlagAI: `num_iters`, i.e. epochs * iterations per epoch). */
  totalSteps: number;
  /** cosine/linear: floor the decay ends at (default 0). */
  minLr?: number;
  /** FlagAI's decay_ratio as the spec states it: the schedule decays towards lr / decayRatio (default 10). */
  decayRatio?: number;
}

/** The learning rate for the update with index `t` (0-based). */
export function lrAt(t: number, s: ScheduleConfig): number {
  const w = s.warmupSteps;
  switch (s.name) {
    case 'flagai-cosine':
    case 'flagai-linear':
      return flagaiAnnealing(t, s);
    default:
      break;
  }
  // open_clip style warmup: step t uses lr * (t + 1) / warmup, so the first update is not wasted at lr 0.
  if (w > 0 && t < w) return (s.lr * (t + 1)) / w;
  const min = s.minLr ?? 0;
  const span = Math.max(1, s.totalSteps - w);
  const p = Math.min(1, Math.max(0, (t - w) / span));
  switch (s.name) {
    case 'constant':
      return s.lr;
    case 'linear':
      return min + (s.lr - min) * (1 - p);
    case 'cosine':
      return min + (s.lr - min) * 0.5 * (1 + Math.cos(Math.PI * p));
  }
  throw new Error(`unknown schedule '${(s as ScheduleConfig).name}' (use cosine, linear, constant, flagai-cosine or flagai-linear)`);
}

/**
 * FlagAI `AnnealingLR` (flagai/schedulers.py), spec 5.3:
 *   t <= warmup: lr0 * t / warmup
 *   cosine:      lr0 / r * ((cos(pi * min(1, (t - warmup) / num_iters)) + 1) * (r - 1) / 2 + 1),  r = 10
 *   linear:      lr0 * (num_iters - (t - warmup)) / num_iters
 * The divisor is num_iters, not num_iters - warmup, so the last lr is slightly above lr0 / r (faithful to FlagAI).
 */
function flagaiAnnealing(t: number, s: ScheduleConfig): number {
  const w = s.warmupSteps;
  if (w > 0 && t <= w) return (s.lr * t) / w;
  const n = Math.max(1, s.totalSteps);
  if (s.name === 'flagai-linear') return (s.lr * (n - (t - w))) / n;
  const r = s.decayRatio ?? 10;
  const ratio = Math.min(1, (t - w) / n);
  return (s.lr / r) * (((Math.cos(Math.PI * ratio) + 1) * (r - 1)) / 2 + 1);
}
