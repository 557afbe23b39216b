import { createDataParallel, singleProcess } from '../parallel/data-parallel';
import type { Parallel } from './types';

/** One process trains alone: it holds the whole batch and writes the run folder. */
export const SINGLE_PROCESS: Parallel = singleProcess();

/** A run's default: MPI's ranks when mpirun/srun started this process (rank and size from MPI), else one process. */
export function defaultParallel(): Parallel {
  return createDataParallel();
}
