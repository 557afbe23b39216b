import { computeGradients } from '../grads';
import type { Parallel } from './types';

/** One process trains alone: it holds the whole batch and writes the run folder. */
export const SINGLE_PROCESS: Parallel = {
  rank: 0,
  size: 1,
  isWriter: true,
  gradients: async (task, params, micro, ctx, seedFor) => computeGradients(task, params, micro, ctx, seedFor),
};
