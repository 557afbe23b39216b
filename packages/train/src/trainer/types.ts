import * as tf from '@tensorflow/tfjs-core';
import type { FeatureTask, GradResult } from '../grads';
import type { ProgressMode } from '../progress';
import type { ScheduleName } from '../schedules';
import type { TrainerKey } from '../options/schema';
import type { DataSource } from '../sources/types';
import type { Precision } from '@altclip/models';
import type { LazyTensor } from '@altclip/checkpoint';
import type { AdamWOptions } from '../adamw';

/** Everything that shapes the optimisation trajectory (hashed into checkpoints) plus logging cadence. */
export interface TrainConfig {
  seed: number;
  /** Samples per optimizer step (the global batch). */
  batchSize: number;
  /** Micro-batches per optimizer step (gradient accumulation); batchSize is split evenly. Default 1. */
  accumSteps?: number;
  /** Stop after this many epochs and/or steps (whichever comes first). */
  epochs?: number;
  steps?: number;
  shuffle?: boolean;
  /** Drop the last incomplete batch of each epoch (default false, as FlagAI). */
  dropLast?: boolean;
  lr: number;
  schedule: ScheduleName;
  /** Warmup steps; a value below 1 is a fraction of the total steps (FlagAI's warm_up = 0.1). */
  warmup: number;
  minLr?: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Regexes (as strings) of keys without weight decay; default: biases, LayerNorm weights, logit_scale. */
  noDecay?: string[];
  /** Max global gradient norm (0 or undefined: no clipping, but the norm is still logged). */
  gradClip?: number;
  /** logit_scale is clamped to [0, logitScaleMax] after each step (default ln 100; CLIP tasks apply it). */
  logitScaleMax?: number;
  logEvery?: number;
  /** Save a checkpoint every N steps (and always at the end / on a signal). 0: only at the end. */
  checkpointEvery?: number;
  keepLast?: number;
  evalEvery?: number;
  /** Metrics loggers besides metrics.jsonl: "tensorboard" (comma-separated string or list). */
  logger?: string | string[];
}

/** What a caller must give train(): the batch size and learning rate; the rest has defaults (TRAIN_DEFAULTS). */
export type TrainSettings = Pick<TrainConfig, 'batchSize' | 'lr'> & Partial<TrainConfig>;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
/** Compiles only while the option schema marks exactly TrainConfig's keys as the trainer's. */
export type TrainerKeysMatchSchema = Assert<Same<keyof TrainConfig, TrainerKey>>;

export const TRAIN_DEFAULTS: Omit<TrainConfig, 'batchSize' | 'lr'> = {
  seed: 0,
  accumSteps: 1,
  shuffle: true,
  dropLast: false,
  schedule: 'cosine',
  warmup: 0,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0.1,
  gradClip: 1.0,
  logitScaleMax: Math.log(100),
  logEvery: 10,
  checkpointEvery: 0,
  keepLast: 3,
  evalEvery: 0,
};

/** Random-access batches: the trainer decides the order (seeded) so a resumed run sees the same batches. */
export interface BatchSource<B> {
  size: number;
  /** null: nothing usable in these indices (e.g. every image unreadable); the micro-batch is skipped. */
  batch(indices: number[]): Promise<B | null> | B | null;
  /** Frees a batch after its step (default: disposes every tf.Tensor among the batch's own properties). */
  release?(batch: B): void;
}

/** Frees a batch: the source's own release, else every tf.Tensor among its properties. */
export function releaseBatch<B>(src: { release?(batch: B): void }, b: B): void {
  if (src.release) return src.release(b);
  if (b instanceof tf.Tensor) return b.dispose();
  if (b && typeof b === 'object') for (const v of Object.values(b)) if (v instanceof tf.Tensor) v.dispose();
}

/** What the trainer needs of its optimizer: AdamW, or its ZeRO-1 shard with --shard-optimizer (parallel/zero.ts). */
export interface TrainOptimizer {
  step(grads: Map<string, tf.Tensor>, lr: number, opts?: { disposeGrads?: boolean; gradScale?: number }): void;
  stateDict(): Promise<{ tensors: Map<string, LazyTensor>; metadata: Record<string, string> }>;
  loadState(read: (name: string) => { shape: number[]; data: Float32Array } | undefined, metadata: Record<string, string>, source?: string): void;
  dispose(): void;
}

/**
 * How the processes of a run share it. The default is one process (SINGLE_PROCESS). A data-parallel group
 * (parallel/data-parallel.ts, over MPI) gives each rank a slice of every global batch and makes the gradient that of
 * the whole batch; rank 0 alone writes the run folder. Every rank calls every hook in the same order.
 */
export interface Parallel {
  readonly rank: number;
  readonly size: number;
  /** This process writes metrics, checkpoints and the final model. */
  readonly isWriter: boolean;
  /** Refuses a batch split that cannot work (a global batch the ranks do not divide), before any work. */
  validate(c: Pick<TrainConfig, 'batchSize' | 'accumSteps'>): void;
  /** The optimizer of the run: AdamW, or a ZeRO-1 shard of it. */
  optimizer(params: Map<string, tf.Variable>, opts: AdamWOptions): TrainOptimizer;
  /** The loss and gradient of the global batch's loss (the same on every rank), from this rank's micro-batches. */
  gradients<B>(task: FeatureTask<B>, params: Map<string, tf.Variable>, micro: B[], ctx: { step: number; seed: number }): Promise<GradResult>;
  /** True on every rank when `flag` is true on any rank (a stop signal, an empty slice, a failed probe), so all ranks branch alike. */
  agree(flag: boolean, label: string): boolean;
  /** Ends the run when the ranks' weights differ (`when`: e.g. 'at the checkpoint of step 10'), naming the rank. */
  checkInSync(params: Map<string, tf.Variable>, when: string): Promise<void>;
  /** A checkpoint: `write` on the writer (returns its folder), the others take part in gathering sharded state. */
  checkpoint(opt: TrainOptimizer, write: () => Promise<string>): Promise<string | undefined>;
  /** Ends the run on every rank with `error` (one process: rethrows it). */
  fail(error: unknown): never;
}

export interface TrainArgs<B> {
  task: FeatureTask<B>;
  /** Trainable parameters by HF key. */
  params: Map<string, tf.Variable>;
  /** Every parameter (restored on resume; default `params`). */
  allParams?: Map<string, tf.Variable>;
  /** Indexed batches (ordered by the trainer) or a DataSource (streams: WebDataset shards, a streamed corpus). */
  data: BatchSource<B> | DataSource<B>;
  config: TrainSettings;
  /** Run folder; without it nothing is written (tests, in-memory use). */
  runDir?: string;
  /** 'latest', a checkpoint folder or a run folder. */
  resume?: string;
  /** Written to config.json (default: `config`). */
  runConfig?: unknown;
  /** Writes the model in its HF layout into a folder (default: all parameters as model.safetensors). */
  saveModel?: (dir: string) => Promise<void>;
  /** Called every evalEvery steps and at the end; numbers land in metrics.jsonl under `eval`. */
  evaluate?: (step: number) => Promise<Record<string, number>>;
  /** Rows that get zero gradient and no weight decay (torch padding_idx rows): key -> rows. */
  paddingRows?: Map<string, number[]>;
  /** Install SIGINT/SIGTERM handlers that checkpoint and stop (default: true when runDir is set). */
  handleSignals?: boolean;
  progress?: ProgressMode;
  label?: string;
  /** Messages (resume, signals, evaluation); default stderr, even with progress off. */
  log?: (line: string) => void;
  /** Test hook: runs before each checkpoint is committed. */
  beforeCommit?: (tmpDir: string) => Promise<void> | void;
  /**
   * Runs once after the last step of a completed run (writing the final model), still holding the run folder's lock
   * and with the signal handlers in place: a signal then lets it finish instead of killing it half way.
   */
  finalize?: () => Promise<void>;
  /** The processes sharing the run (default: MPI's ranks under mpirun/srun, else this one alone). */
  parallel?: Parallel;
  /** How the step's matmuls compute (@altclip/models' precisions; default fp32): it wraps the forward and backward. */
  precision?: Precision;
}

export interface StepRecord {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  samples_per_s: number;
  logit_scale?: number;
  num_tensors: number;
  rss_mib: number;
  [term: string]: number | undefined;
}

export interface TrainResult {
  status: 'completed' | 'interrupted';
  signal?: 'SIGINT' | 'SIGTERM';
  /** Steps completed (the run's optimizer step counter). */
  step: number;
  totalSteps: number;
  /** Loss of every step this call ran. */
  losses: number[];
  records: StepRecord[];
  lastCheckpoint?: string;
  /** false on the ranks of a data-parallel run other than rank 0, which alone writes and reports. */
  writer?: boolean;
}

export class NonFiniteLossError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
}
