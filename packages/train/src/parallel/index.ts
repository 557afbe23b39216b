/** Data-parallel training (docs/data-parallel.md): the trainer's hooks, gradient buckets, ZeRO-1, checksums. */
export * from './types';
export { createDataParallel, singleProcess, rankRange, sampleKey } from './data-parallel';
export { GradReducer, DEFAULT_BUCKET_MB } from './buckets';
export { ShardedAdamW, partitionRows } from './zero';
export { weightChecksums, compareAcrossRanks } from './checksum';
export { gatherRows } from './gather';
export { launcherRank } from '@altclip/mpi';
