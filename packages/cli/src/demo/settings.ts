import type { DemoDataOptions } from './data';

/** Optimiser settings of one stage, passed straight to runContrastive / runDistill (same names as their flags). */
export interface StageTrain {
  batchSize: number;
  steps: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  betas: [number, number];
  gradClip: number;
  schedule: 'cosine' | 'linear' | 'constant';
  logEvery: number;
  checkpointEvery: number;
}

export interface DemoSettings {
  data: DemoDataOptions;
  /** Stage 0: the English CLIP teacher, trained from scratch (named config in configs/models). */
  teacherConfig: string;
  stage0: StageTrain;
  /** Stage 1 student text tower (XLM-R architecture); vocabulary from the demo SentencePiece model. */
  student: { hiddenSize: number; layers: number; heads: number; intermediateSize: number };
  stage1: StageTrain;
  stage2: StageTrain;
}

/**
 * Default settings: chosen for the project's 20-minute budget on a 2-core machine; with the native addon the full run
 * takes about 3 minutes there (README). The teacher
 * gets most of it: its English zero-shot accuracy bounds everything after it.
 */
export const DEFAULT_SETTINGS: DemoSettings = {
  data: { trainImages: 20000, captionsPerImage: 1, stage2Images: 10000, testImages: 0, galleries: 20, seed: 0 },
  teacherConfig: 'clip-demo-tiny',
  stage0: { batchSize: 128, steps: 500, lr: 1e-3, warmup: 50, weightDecay: 0.1, betas: [0.9, 0.98], gradClip: 1, schedule: 'cosine', logEvery: 10, checkpointEvery: 100 },
  student: { hiddenSize: 64, layers: 2, heads: 4, intermediateSize: 256 },
  stage1: { batchSize: 64, steps: 500, lr: 1e-3, warmup: 30, weightDecay: 0.01, betas: [0.9, 0.98], gradClip: 1, schedule: 'cosine', logEvery: 10, checkpointEvery: 100 },
  stage2: { batchSize: 128, steps: 300, lr: 3e-4, warmup: 20, weightDecay: 0.05, betas: [0.9, 0.98], gradClip: 5, schedule: 'cosine', logEvery: 10, checkpointEvery: 100 },
};

/** `--fast`: the same pipeline in under a minute (7 without the native addon; used by the test); accuracy is lower but well above chance. */
export const FAST_SETTINGS: DemoSettings = {
  data: { trainImages: 3000, captionsPerImage: 1, stage2Images: 2000, testImages: 1000, galleries: 4, seed: 0 },
  teacherConfig: 'clip-demo-tiny',
  stage0: { ...DEFAULT_SETTINGS.stage0, steps: 150, warmup: 10, checkpointEvery: 50 },
  student: DEFAULT_SETTINGS.student,
  stage1: { ...DEFAULT_SETTINGS.stage1, steps: 300, warmup: 20, checkpointEvery: 100 },
  stage2: { ...DEFAULT_SETTINGS.stage2, steps: 60, warmup: 5, checkpointEvery: 30 },
};
