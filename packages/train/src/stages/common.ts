/** What the three training stages share: their options, run folder, model folder output and the call to train(). */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { assertOutput, pidAlive } from '@altclip/checkpoint';
import { ImageProcessor } from '@altclip/image';
import { AnyClipModel, ClipLikeModel, getPrecision, textMaxLength } from '@altclip/models';
import type { ReadReport } from '@altclip/data';
import type { TextTokenizer } from '@altclip/tokenizers';
import type { FeatureTask } from '../grads';
import { EveryStageOptions, OptionsOf, RELATIONS, TRAINER_KEYS } from '../options/schema';
import { flagName } from '../options/define';
import { configFileOptions, mergeLayers, TrainCommand } from '../options/resolve';
import { checkOnce, markChecked } from '../options/validate';
import { paddingRows } from '../params';
import type { ProgressMode } from '../progress';
import { parseLoggers } from '../run';
import { BatchSource, train, TrainResult, TrainSettings } from '../trainer';
import type { DataSource } from '../sources/types';
import { evalHook } from './eval-hook';
import { createDataParallel } from '../parallel/data-parallel';
import type { DataParallel } from '../parallel/types';

/** What library callers may give a stage beyond its flags: objects instead of paths, and callbacks. */
export interface StageExtras {
  /** A bar on a TTY (default), 'plain' step lines, false nothing. */
  progress?: ProgressMode;
  /** Freeze patterns as regexes or their sources. */
  freeze?: (string | RegExp)[];
  unfreeze?: (string | RegExp)[];
  log?: (line: string) => void;
  /** The processes sharing the run (default: MPI's ranks when mpirun/srun started this process, else this one alone). */
  parallel?: DataParallel;
  /** Data parallelism: gradient bucket size in MiB (default 25) and whether buckets reduce during the backward pass. */
  bucketMB?: number;
  overlap?: boolean;
}

/** A stage's options: its flags (the option schema's; `config` a JSON file of more of them) and the library extras. */
export type StageOptionsOf<C extends TrainCommand> = Omit<OptionsOf<C>, keyof StageExtras> & StageExtras;

/** What resolveStage and trainStage read of a stage's options: those every stage takes (each widens `tokenizer`). */
export type StageCommon = Omit<EveryStageOptions, 'tokenizer' | 'data' | keyof StageExtras> & StageExtras;

export interface StageResult extends TrainResult {
  runDir: string;
  /** The trained model as a complete folder (weights, config, tokenizer, preprocessor_config.json). */
  finalDir?: string;
  report?: ReadReport;
  failedImages: number;
  /** Stage 1: the teacher-feature cache folder used (or written, with cacheTeacherOnly). */
  teacherCache?: string;
}

/**
 * A stage's options resolved once, before any data or model is opened: its defaults (or preset) under the caller's
 * options (a caller who sets only `steps`, or only `epochs`, gets exactly that), checked against the schema unless
 * the CLI checked them already, and the trainer's configuration.
 */
export function resolveStage<O extends StageCommon>(
  stage: TrainCommand,
  defaults: Partial<O> | ((given: O) => Partial<O>),
  opts: O,
): { o: O; cfg: TrainSettings; log: (l: string) => void; parallel: DataParallel } {
  checkOnce(stage, opts);
  // Layers: the stage's defaults (which may depend on what is given: a preset), the config file, the options given.
  const given = mergeLayers<O>(opts.config ? (configFileOptions(stage, opts.config) as Partial<O>) : {}, opts);
  const o = mergeLayers<O>(typeof defaults === 'function' ? defaults(given) : defaults, given);
  if (given.steps !== undefined && given.epochs === undefined) delete o.epochs;
  if (given.epochs !== undefined && given.steps === undefined) delete o.steps;
  const parallel = stageParallel(o);
  // Rank 0 alone prints (and writes); the other ranks train silently.
  const log = !parallel.isWriter ? () => undefined : (o.log ?? ((l: string) => process.stderr.write(l + '\n')));
  // A recipe's warm-up (the paper's 2,000 steps) on a short run would keep the learning rate near 0 throughout.
  if (given.warmup === undefined && o.warmup !== undefined && o.warmup >= 1 && o.steps !== undefined && o.warmup >= o.steps) {
    log(`${stage}: the default warmup of ${o.warmup} steps is not shorter than this ${o.steps}-step run; warming up over its first 10% instead (set --warmup to choose)`);
    o.warmup = 0.1;
  }
  const related = RELATIONS.map((r) => r(o)).filter((p): p is string => p !== undefined);
  if (related.length) throw new Error(related.map((p) => `${stage}: ${p}`).join('\n'));
  const { batchSize, lr } = o;
  for (const [k, v] of [['batchSize', batchSize], ['lr', lr]] as const) if (v === undefined) throw new Error(`${stage}: '${k}' must be set (config file or ${flagName(k)})`);
  if (o.epochs === undefined && o.steps === undefined) throw new Error(`${stage}: set 'epochs' or 'steps'`);
  parseLoggers(o.logger); // before any slow preparation (teacher features, data) so a typo fails at once
  const cfg: TrainSettings = { batchSize: batchSize!, lr: lr! };
  for (const k of TRAINER_KEYS) if (Reflect.get(o, k) !== undefined) Reflect.set(cfg, k, Reflect.get(o, k));
  markChecked(cfg); // its values are the options checked above
  parallel.validate(cfg); // before any slow preparation: a batch the ranks do not divide fails at once
  if (parallel.size > 1) log(parallel.describe(batchSize!));
  return { o, cfg, log, parallel };
}

/** The run's processes: those a library caller gave, else MPI's ranks (when a launcher started this one), else one. */
function stageParallel(o: StageCommon): DataParallel {
  return o.parallel ?? createDataParallel({ localLoss: Reflect.get(o, 'localLoss') === true, shardOptimizer: o.shardOptimizer, bucketMB: o.bucketMB, overlap: o.overlap });
}

/** `--out`, else runs/<name>, else runs/<stage>-<UTC timestamp>. */
export function resolveRunDir(o: { out?: string; name?: string; resume?: string }, stage: string): string {
  if (o.out) assertOutput(o.out, 'folder', '--out');
  if (o.out) return path.resolve(o.out);
  if (o.name) assertOutput(path.join('runs', o.name), 'folder', '--name');
  if (o.name) return path.resolve('runs', o.name);
  if (o.resume && o.resume !== 'latest') {
    // --resume <checkpoint or run folder> without --out: the run that owns it.
    const r = path.resolve(o.resume);
    return fs.existsSync(path.join(r, 'trainer_state.json')) ? path.dirname(path.dirname(r)) : r;
  }
  if (o.resume === 'latest') throw new Error(`${stage}: --resume latest needs --out or --name to say which run`);
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return path.resolve('runs', `${stage}-${ts}`);
}

/** Writes a complete, loadable model folder: weights + config, tokenizer files, preprocessor_config.json. */
export async function saveModelFolder(dir: string, model: ClipLikeModel, tokenizer?: TextTokenizer, processor?: ImageProcessor): Promise<void> {
  await model.save(dir);
  if (tokenizer) await tokenizer.save(dir, { modelMaxLength: textMaxLength(model.config) });
  processor?.save(dir);
}

/** Options as JSON for config.json: objects (models, tokenizers, pair lists) replaced by a short description. */
export function stripObjects(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'function') continue;
    if (Array.isArray(v) && v.length > 16) out[k] = `[${v.length} items]`;
    else if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RegExp) && Object.getPrototypeOf(v) !== Object.prototype) out[k] = `<${v.constructor?.name ?? 'object'}>`;
    else if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RegExp)) out[k] = stripObjects(v);
    else if (v instanceof RegExp) out[k] = String(v);
    else if (Array.isArray(v)) out[k] = v.map((x) => (x instanceof RegExp ? String(x) : x && typeof x === 'object' ? '<object>' : x));
    else out[k] = v;
  }
  return out;
}

/** What a stage trains: its task and data, the model with its tokenizer and image processor, and which parameters learn. */
export interface StageRun<B> {
  stage: TrainCommand;
  o: StageCommon;
  cfg: TrainSettings;
  runDir: string;
  log: (line: string) => void;
  /** resolveStage's: the ranks sharing the run. */
  parallel: DataParallel;
  task: FeatureTask<B>;
  data: BatchSource<B> | DataSource<B>;
  model: AnyClipModel;
  tokenizer: TextTokenizer;
  processor: ImageProcessor;
  params: Map<string, tf.Variable>;
  /** Written to the run's config.json besides the options. */
  runConfig?: Record<string, unknown>;
  /** The line logged when the final model is written. */
  finalMessage: (dir: string) => string;
}

/**
 * Trains a stage, then (when the run completed) writes the trained model as a complete folder <run>/final. The run's
 * config.json is `{stage, ...options, ...runConfig, train}`.
 */
export async function trainStage<B>(s: StageRun<B>): Promise<{ result: TrainResult; finalDir?: string }> {
  const { o, model, tokenizer, processor } = s;
  model.gradientCheckpointingEnable(o.gradCheckpointing === true);
  // After --frozen-dtype's storage (stageParams): that choice wins for the tensors it moved.
  const precision = getPrecision(o.precision ?? 'fp32');
  s.log(precision.support().line);
  const stored = precision.prepareModel(model, s.params.keys());
  if (stored) s.log(stored);
  const saveModel = (d: string) => saveModelFolder(d, model, tokenizer, processor);
  let finalDir: string | undefined;
  const result = await train({
    task: s.task,
    params: s.params,
    allParams: model.namedParameters(),
    data: s.data,
    config: s.cfg,
    runDir: s.runDir,
    resume: o.resume,
    runConfig: { stage: s.stage, ...stripObjects(o), ...s.runConfig, train: s.cfg },
    saveModel,
    evaluate: evalHook(o, model, tokenizer, processor, s.parallel),
    paddingRows: paddingRows([...s.params.keys()], model.config.text_config.pad_token_id),
    progress: o.progress,
    log: s.log,
    label: s.stage,
    precision,
    parallel: s.parallel,
    finalize: async () => {
      finalDir = await writeFinalModel(s.runDir, saveModel);
      s.log(s.finalMessage(finalDir));
    },
  });
  return { result, finalDir };
}

/**
 * Writes <run>/final atomically: into final.tmp-<pid>, then renamed into place, so a kill leaves the previous final/
 * (or none) and never half of one. Leftovers of killed writers are removed first.
 */
export async function writeFinalModel(runDir: string, save: (dir: string) => Promise<void>): Promise<string> {
  const finalDir = path.join(runDir, 'final');
  for (const e of fs.readdirSync(runDir)) {
    const m = /^final\.(?:tmp|old)-(\d+)$/.exec(e);
    if (m && (Number(m[1]) === process.pid || !pidAlive(Number(m[1])))) await fs.promises.rm(path.join(runDir, e), { recursive: true, force: true });
  }
  const tmp = path.join(runDir, `final.tmp-${process.pid}`);
  await save(tmp);
  if (fs.existsSync(finalDir)) {
    const old = path.join(runDir, `final.old-${process.pid}`);
    await fs.promises.rename(finalDir, old);
    await fs.promises.rename(tmp, finalDir);
    await fs.promises.rm(old, { recursive: true, force: true });
  } else await fs.promises.rename(tmp, finalDir);
  return finalDir;
}
