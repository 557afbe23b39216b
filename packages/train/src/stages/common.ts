import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { isHubId } from '@altclip/checkpoint';
import { AltCLIPModel, CLIPModel, clipHead, clipLossTerms, getModelConfig, loadClipLikeModel, ClipLikeModel, FROZEN_DTYPES, FrozenDtype, resolveModelDir } from '@altclip/models';
import { CLIPTokenizer, loadTokenizer, TextTokenizer } from '@altclip/tokenizers';
import { ImageProcessor } from '@altclip/image';
import { BatchLoader, PixelBatch } from '@altclip/data';
import { encodeTexts, resolveProcessor, textMaxLength, ProcessorLike } from '@altclip/eval';
import type { FeatureTask } from '../grads';
import { FreezeOptions, paddingRows, selectTrainable } from '../params';
import { train, BatchSource, TrainConfig, TrainResult } from '../trainer';
import type { DataSource } from '../sources/types';
import { parseLoggers } from '../run';
import type { ProgressMode } from '../progress';
import { evalHook, EvalSpec } from './eval-hook';
import { flagName, validateOptions } from '../validate';

/** Options every training stage (distill, contrastive, finetune) takes besides its own. */
export interface CommonStageOptions extends Partial<TrainConfig>, FreezeOptions {
  out?: string;
  name?: string;
  resume?: string;
  maxLength?: number;
  /** Text dropout during training (default true: HF train mode). */
  dropout?: boolean;
  /** Per-layer activation checkpointing (HF gradient_checkpointing_enable): less memory, about a third more compute. */
  gradCheckpointing?: boolean;
  /** Frozen parameters (a locked tower) kept in bf16/f16, computed in f32; default f32 (exact). */
  frozenDtype?: 'f32' | FrozenDtype;
  /** Zero-shot evaluation of the model being trained, every evalEvery steps and at the end. */
  eval?: EvalSpec;
  /** A bar on a TTY (default), 'plain' step lines, false nothing. */
  progress?: ProgressMode;
  log?: (line: string) => void;
}

/** Keys of a flat stage config that belong to the trainer. */
export const TRAIN_KEYS = [
  'seed', 'batchSize', 'accumSteps', 'epochs', 'steps', 'shuffle', 'dropLast', 'lr', 'schedule', 'warmup', 'minLr', 'betas', 'eps',
  'weightDecay', 'noDecay', 'gradClip', 'logitScaleMax', 'logEvery', 'checkpointEvery', 'keepLast', 'evalEvery', 'logger',
] as const;

/** Reads a JSON config file with errors that name the file. */
export function readJsonConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read config ${file}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    delete v.$comment;
    delete v.description;
    return v;
  } catch (e) {
    throw new Error(`${file}: invalid config (${(e as Error).message})`);
  }
}

/** Later layers override earlier ones; undefined values do not override. */
export function mergeLayers<T extends object>(...layers: Array<Partial<T> | undefined>): T {
  const out: Record<string, unknown> = {};
  for (const l of layers) if (l) for (const [k, v] of Object.entries(l)) if (v !== undefined) out[k] = v;
  return out as T;
}

/**
 * Stage defaults under user options. A user who sets only `steps` (or only `epochs`) gets exactly that: the
 * default of the other is dropped, otherwise the run would stop at whichever comes first.
 */
export function withDefaults<T extends object>(defaults: Partial<T>, opts: T): T {
  const o = mergeLayers<T>(defaults, opts) as Record<string, unknown>;
  const u = opts as Record<string, unknown>;
  if (u.steps !== undefined && u.epochs === undefined) delete o.epochs;
  if (u.epochs !== undefined && u.steps === undefined) delete o.steps;
  return o as T;
}

/** The trainer's part of a flat stage config, with required fields checked. */
export function trainConfigOf(flat: Record<string, unknown>, stage: string): TrainConfig {
  // Every option the schema knows (not only the trainer's), before any data or model is opened.
  validateOptions(flat, (k) => `${stage}: ${k} (${flagName(k)})`);
  const c: Record<string, unknown> = {};
  for (const k of TRAIN_KEYS) if (flat[k] !== undefined) c[k] = flat[k];
  for (const k of ['batchSize', 'lr'] as const) if (typeof c[k] !== 'number') throw new Error(`${stage}: '${k}' must be set (config file or --${k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase())})`);
  if (c.epochs === undefined && c.steps === undefined) throw new Error(`${stage}: set 'epochs' or 'steps'`);
  parseLoggers(c.logger); // before any slow preparation (teacher features, data) so a typo fails at once
  return c as unknown as TrainConfig;
}

/** `--out`, else runs/<name>, else runs/<stage>-<UTC timestamp>. */
export function resolveRunDir(o: { out?: string; name?: string; resume?: string }, stage: string): string {
  if (o.out) return path.resolve(o.out);
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

export type AnyClipModel = AltCLIPModel | CLIPModel;

/**
 * A model folder (config.json + weights), a hub id (org/name[@revision], fetched with its tokenizer and
 * preprocessor_config.json into the HF cache) or a named config from configs/models (random init, seeded).
 */
export async function resolveModel(spec: string | AnyClipModel, seed: number): Promise<{ model: AnyClipModel; dir?: string }> {
  if (typeof spec !== 'string') return { model: spec };
  if (isHubId(spec)) spec = await resolveModelDir(spec, { parts: ['config', 'weights', 'tokenizer', 'processor'] });
  if (fs.existsSync(spec) && fs.statSync(spec).isDirectory()) return { model: await loadClipLikeModel(spec), dir: spec };
  if (/[\\/]/.test(spec) || spec.startsWith('.')) throw new Error(`model folder not found: ${spec}`);
  const cfg = getModelConfig(spec);
  return { model: cfg.model_type === 'altclip' ? new AltCLIPModel(cfg, { seed }) : new CLIPModel(cfg, { seed }) };
}

/** --tokenizer, else the model folder's tokenizer, else (CLIP only) the shipped CLIP BPE vocabulary. */
export async function resolveTokenizer(spec: string | TextTokenizer | undefined, model: AnyClipModel, modelDir?: string): Promise<TextTokenizer> {
  if (spec && typeof spec !== 'string') return spec;
  if (spec) return loadTokenizer(spec);
  if (modelDir) {
    const hasTok = ['sentencepiece.bpe.model', 'vocab.json', 'bpe_simple_vocab_16e6.txt.gz'].some((f) => fs.existsSync(path.join(modelDir, f)));
    if (hasTok || model.config.model_type === 'clip') return loadTokenizer(modelDir);
  }
  if (model.config.model_type === 'clip') return CLIPTokenizer.load();
  throw new Error('an AltCLIP model needs an XLM-R tokenizer: pass --tokenizer <folder with sentencepiece.bpe.model>');
}

/** The model folder's preprocessor_config.json, else CLIP preprocessing at the model's image size. */
export function resolveImageProcessor(model: AnyClipModel, dir?: string): ProcessorLike {
  if (dir && fs.existsSync(path.join(dir, 'preprocessor_config.json'))) return ImageProcessor.fromPretrained(dir);
  return resolveProcessor(model as any);
}

/** Writes a complete, loadable model folder: weights + config, tokenizer files, preprocessor_config.json. */
export async function saveModelFolder(dir: string, model: ClipLikeModel, tokenizer?: TextTokenizer, processor?: ProcessorLike): Promise<void> {
  await model.save(dir);
  if (tokenizer) await tokenizer.save(dir);
  if (processor instanceof ImageProcessor) processor.save(dir);
}

/** After a completed run, the trained model as a complete folder <run>/final (undefined when the run stopped early). */
export async function saveFinalModel(a: {
  status: 'completed' | 'interrupted';
  runDir: string;
  model: ClipLikeModel;
  tokenizer?: TextTokenizer;
  processor?: ProcessorLike;
  log: (line: string) => void;
  message: (dir: string) => string;
}): Promise<string | undefined> {
  if (a.status !== 'completed') return undefined;
  const finalDir = path.join(a.runDir, 'final');
  await saveModelFolder(finalDir, a.model, a.tokenizer, a.processor);
  a.log(a.message(finalDir));
  return finalDir;
}

export { textMaxLength };

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

/** What a CLIP-loss stage (contrastive, finetune) trains with. */
export interface ClipStageParts {
  tokenizer: TextTokenizer;
  processor: ProcessorLike;
  all: Map<string, tf.Variable>;
  params: Map<string, tf.Variable>;
  /** No vision tower or visual_projection tensor is trainable. */
  imageFrozen: boolean;
}

export async function clipStageParts(
  o: FreezeOptions & { tokenizer?: string | TextTokenizer; frozenDtype?: 'f32' | FrozenDtype; log?: (line: string) => void },
  model: AnyClipModel,
  dir?: string,
): Promise<ClipStageParts> {
  const tokenizer = await resolveTokenizer(o.tokenizer, model, dir);
  const processor = resolveImageProcessor(model, dir);
  const params = selectTrainable(model.namedParameters(), o);
  storeFrozen(model, params, o.frozenDtype, o.log);
  const all = model.namedParameters();
  const imageFrozen = ![...params.keys()].some((k) => k.startsWith('vision_model.') || k.startsWith('visual_projection'));
  return { tokenizer, processor, all, params, imageFrozen };
}

/** --frozen-dtype: every parameter outside `trainable` goes to half storage (no-op for f32 / unset). */
export function storeFrozen(model: ClipLikeModel, trainable: Map<string, tf.Variable>, dtype: 'f32' | FrozenDtype | undefined, log?: (line: string) => void): void {
  if (dtype === undefined || dtype === 'f32') return;
  if (!(FROZEN_DTYPES as string[]).includes(dtype)) throw new Error(`--frozen-dtype must be f32, ${FROZEN_DTYPES.join(' or ')}, got '${dtype}'`);
  const frozen: string[] = [];
  for (const [k, v] of model.namedParameters()) {
    if (trainable.has(k)) continue;
    v.trainable = false;
    frozen.push(k);
  }
  const { moved, bytesSaved } = model.storeFrozenAs(dtype, frozen);
  log?.(`frozen parameters in ${dtype}: ${moved.length} tensors, ${(bytesSaved / 2 ** 20).toFixed(1)} MiB saved`);
}

/** train() for a CLIP-loss stage; the run's config.json is `{stage, ...options, ...runConfig, train}`. */
export function trainClipStage(a: {
  stage: string;
  o: CommonStageOptions;
  model: AnyClipModel;
  parts: ClipStageParts;
  data: BatchSource<ClipBatch> | DataSource<ClipBatch>;
  cfg: TrainConfig;
  runDir: string;
  log: (line: string) => void;
  runConfig?: Record<string, unknown>;
}): Promise<TrainResult> {
  const { o, model, cfg } = a;
  const { tokenizer, processor, params, imageFrozen } = a.parts;
  model.gradientCheckpointingEnable(o.gradCheckpointing === true);
  return train({
    task: clipTask(model, { imageFrozen, dropout: o.dropout }),
    params,
    allParams: a.parts.all,
    data: a.data,
    config: cfg,
    runDir: a.runDir,
    resume: o.resume,
    runConfig: { stage: a.stage, ...stripObjects(o), ...a.runConfig, train: cfg },
    saveModel: (d) => saveModelFolder(d, model, tokenizer, processor),
    evaluate: evalHook(o.eval, model, tokenizer, processor),
    paddingRows: paddingRows([...params.keys()], (model.config as any).text_config?.pad_token_id),
    progress: o.progress,
    log: a.log,
    label: a.stage,
  });
}

/** One micro-batch of a CLIP-loss stage. */
export interface ClipBatch {
  ids: tf.Tensor2D; // [n, L] int32
  mask: tf.Tensor2D; // [n, L] int32
  pixels?: tf.Tensor4D; // [n, 3, S, S]
  /** Image features of a frozen image tower, computed during loading [n, D]. */
  imageFeats?: tf.Tensor2D;
}

/** In-batch retrieval accuracy of logits [n, n] (text->image rows and image->text columns, averaged). */
export function inBatchAccuracy(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const n = logits.shape[0];
    const diag = tf.range(0, n, 1, 'int32');
    const t2i = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), diag), 'float32'));
    const i2t = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 0), diag), 'float32'));
    return tf.div(tf.add(t2i, i2t), 2) as tf.Scalar;
  });
}

/** The CLIP contrastive task: features [text, image], symmetric CE with the learnable temperature. */
export function clipTask(model: ClipLikeModel, o: { imageFrozen: boolean; dropout?: boolean }): FeatureTask<ClipBatch> {
  return {
    features: (b, ctx) => {
      const training = ctx.training && o.dropout !== false;
      const text = model.getTextFeatures(b.ids, b.mask, { training });
      let image: tf.Tensor;
      if (b.imageFeats) image = tf.clone(b.imageFeats);
      else if (o.imageFrozen && ctx.cached) image = ctx.cached[1];
      else image = model.getImageFeatures(b.pixels!, { training: training && !o.imageFrozen });
      return [text, image];
    },
    constantFeatures: o.imageFrozen ? [1] : [],
    loss: ([t, i]) => {
      const { logitsPerText } = clipHead(t, i, model.logitScale);
      const terms = clipLossTerms(logitsPerText);
      return { loss: terms.loss, terms: { text_loss: terms.textLoss, image_loss: terms.imageLoss, acc: inBatchAccuracy(logitsPerText) } };
    },
  };
}

/**
 * Batches for a CLIP-loss stage: captions tokenised on the fly, pixels from `loader` (decoded off the main thread
 * for file datasets). Unreadable images are dropped from their batch and counted. With a frozen image tower the
 * image features are computed once per sample and cached (the tower never changes), so later epochs skip it.
 */
export function clipBatchSource(a: {
  size: number;
  caption: (i: number) => string;
  loader: BatchLoader;
  tokenizer: TextTokenizer;
  maxLength: number;
  model: ClipLikeModel;
  imageFrozen: boolean;
  /** Cache preprocessed pixels (trainable image tower) or image features (frozen) up to this many floats. */
  cacheFloats?: number;
  onFailed?: (index: number, error: string) => void;
}): BatchSource<ClipBatch> & { failed: Map<number, string> } {
  const failed = new Map<number, string>();
  const cache = new Map<number, Float32Array>();
  let cachedFloats = 0;
  const budget = a.cacheFloats ?? 64 * 2 ** 20;
  return {
    size: a.size,
    failed,
    async batch(indices: number[]) {
      const want = indices.filter((i) => !failed.has(i));
      const need = want.filter((i) => !cache.has(i));
      let px: PixelBatch | undefined;
      if (need.length) {
        px = await a.loader(need);
        for (const f of px.failed) {
          failed.set(f.index, f.error);
          a.onFailed?.(f.index, f.error);
        }
      }
      const kept = want.filter((i) => !failed.has(i));
      const rows = new Map<number, Float32Array>();
      if (px && px.indices.length) {
        const per = px.data.length / px.indices.length;
        let feats: Float32Array | undefined;
        let d = per;
        if (a.imageFrozen) {
          const f = tf.tidy(() => a.model.getImageFeatures(tf.tensor4d(px!.data, px!.shape)));
          feats = f.dataSync() as Float32Array;
          d = f.shape[1];
          f.dispose();
        }
        px.indices.forEach((idx, r) => {
          const row = feats ? feats.slice(r * d, (r + 1) * d) : px!.data.slice(r * per, (r + 1) * per);
          rows.set(idx, row);
          if (cachedFloats + row.length <= budget) {
            cache.set(idx, row);
            cachedFloats += row.length;
          }
        });
      }
      if (kept.length === 0) return null;
      const get = (i: number) => cache.get(i) ?? rows.get(i)!;
      const { ids, mask } = encodeTexts(a.tokenizer as any, kept.map(a.caption), a.maxLength);
      const per = kept.length ? get(kept[0]).length : 0;
      const flat = new Float32Array(kept.length * per);
      kept.forEach((i, r) => flat.set(get(i), r * per));
      if (a.imageFrozen) return { ids, mask, imageFeats: tf.tensor2d(flat, [kept.length, per]) };
      const side = Math.round(Math.sqrt(per / 3));
      return { ids, mask, pixels: tf.tensor4d(flat, [kept.length, 3, side, side]) };
    },
  };
}
