import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { isHubId, openSafetensors, writeSafetensors } from '@altclip/checkpoint';
import { encodeTexts, formatReport, ParallelPair, readParallelCorpus, ReadReport } from '@altclip/data';
import { ImageProcessor } from '@altclip/image';
import { AltCLIPModel, CLIPTextModelWithProjection, getModelConfig, AltCLIPConfig, resolveModelDir, processorFor, textMaxLength } from '@altclip/models';
import { CLIPTokenizer, loadTokenizer, TextTokenizer } from '@altclip/tokenizers';
import type { FeatureTask } from '../grads';
import { DISTILLATION_LOSSES } from '../losses';
import { readJsonConfig } from '../options/resolve';
import { selectTrainable, storeFrozen } from '../params';
import { createProgress, progressMode, ProgressMode } from '../progress';
import type { BatchSource } from '../trainer';
import { resolveRunDir, resolveStage, StageOptionsOf, StageResult, trainStage } from './common';

/** Stage 1 (PAPER 5.1, Table 6): batch 1024, AdamW betas (0.99, 0.999) as printed, lr 1e-4, wd 0.1, warmup 500, 10 epochs, clip 1.0. */
export const DISTILL_DEFAULTS: Partial<DistillOptions> = {
  seed: 0,
  batchSize: 1024,
  lr: 1e-4,
  betas: [0.99, 0.999],
  eps: 1e-8,
  weightDecay: 0.1,
  warmup: 500,
  epochs: 10,
  gradClip: 1.0,
  schedule: 'cosine',
  target: 'pooled',
  enEn: true,
};

/**
 * teacher: a CLIP folder (CLIPTextModelWithProjection or a full CLIPModel); student: an AltCLIP folder, an
 * xlm-roberta folder (with `vision`), or a named config; vision: a CLIP folder giving the vision tower,
 * visual_projection and logit_scale (default: the teacher if it is a CLIPModel); target: the teacher feature to
 * imitate, the pooled EOS state before text_projection (default, the paper's) or after it.
 */
export interface DistillOptions extends Omit<StageOptionsOf<'distill'>, 'data' | 'tokenizer' | 'teacherTokenizer'> {
  /** Parallel corpus: TSV `en<TAB>zh` or JSONL, or pairs already read. */
  data?: string | ParallelPair[];
  /** Student tokenizer (XLM-R SentencePiece folder); default: the student folder. */
  tokenizer?: string | TextTokenizer;
  /** Teacher tokenizer; default: the teacher folder's CLIP BPE (or the shipped one). */
  teacherTokenizer?: string | TextTokenizer;
}

interface DistillBatch {
  ids: tf.Tensor2D;
  mask: tf.Tensor2D;
  target: tf.Tensor2D;
}

/** A stable identity of a model folder: its config and the names, sizes and times of its weight files. */
function folderFingerprint(dir: string): string {
  const h = crypto.createHash('sha256');
  h.update(fs.readFileSync(path.join(dir, 'config.json')));
  for (const f of fs.readdirSync(dir).sort()) {
    if (!/\.(safetensors|bin|json)$/.test(f) || f === 'config.json') continue;
    const st = fs.statSync(path.join(dir, f));
    h.update(`${f}:${st.size}:${st.mtimeMs}\n`);
  }
  return h.digest('hex');
}

/**
 * Teacher features of `texts` [U, D], computed once and cached as safetensors keyed by a hash of the teacher, the
 * target kind, the tokenisation and the texts, so later epochs, resumed runs and new runs on the same corpus reuse them.
 */
export async function teacherFeatures(a: {
  teacherDir: string;
  texts: string[];
  target: 'pooled' | 'projected';
  tokenizer: TextTokenizer;
  maxLength?: number;
  cacheDir: string;
  batchSize?: number;
  progress?: ProgressMode;
  log: (l: string) => void;
}): Promise<{ data: Float32Array; dim: number; file: string; cached: boolean }> {
  const h = crypto.createHash('sha256');
  h.update(folderFingerprint(a.teacherDir));
  h.update(`\0${a.target}\0${a.maxLength}\0${a.tokenizer.vocabSize}\0${a.texts.length}\0`);
  for (const t of a.texts) h.update(t + '\0');
  const key = h.digest('hex').slice(0, 24);
  const file = path.join(a.cacheDir, `teacher-${key}.safetensors`);
  if (fs.existsSync(file)) {
    const r = await openSafetensors(file);
    try {
      const info = r.info('features');
      if (info.shape[0] === a.texts.length) {
        const t = await r.read('features');
        a.log(`distill: teacher features from cache ${file}`);
        return { data: t.data as Float32Array, dim: info.shape[1], file, cached: true };
      }
    } finally {
      await r.close();
    }
  }
  const teacher = await CLIPTextModelWithProjection.fromPretrained(a.teacherDir, { trainable: false });
  try {
    const maxLength = a.maxLength ?? teacher.config.max_position_embeddings;
    const bs = a.batchSize ?? 64;
    const progress = createProgress({ total: a.texts.length, label: 'teacher features', every: Math.max(bs, Math.ceil(a.texts.length / 10)), ...progressMode(a.progress) });
    let out: Float32Array | undefined;
    let dim = 0;
    for (let s = 0; s < a.texts.length; s += bs) {
      const chunk = a.texts.slice(s, s + bs);
      const enc = a.tokenizer.encode(chunk, { contextLength: maxLength, truncate: true, maxLength, truncation: true, padding: 'longest' });
      const f = tf.tidy(() => {
        const o = teacher.forward({ inputIds: enc.inputIds, attentionMask: enc.attentionMask });
        return a.target === 'pooled' ? o.pooledOutput : o.textEmbeds;
      });
      dim = f.shape[1];
      out ??= new Float32Array(a.texts.length * dim);
      out.set(f.dataSync() as Float32Array, s * dim);
      f.dispose();
      progress.update(Math.min(a.texts.length, s + bs), {});
    }
    progress.done();
    await writeSafetensors(file, { features: { shape: [a.texts.length, dim], data: out! } }, { teacher: a.teacherDir, target: a.target, texts: String(a.texts.length) });
    a.log(`distill: ${a.texts.length} teacher features (${a.target}, dim ${dim}) cached in ${file}`);
    return { data: out!, dim, file, cached: false };
  } finally {
    teacher.dispose();
  }
}

function isFolder(p: string): boolean {
  return fs.existsSync(p) && fs.statSync(p).isDirectory();
}

function modelType(dir: string): string | undefined {
  const f = path.join(dir, 'config.json');
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')).model_type as string | undefined) : undefined;
}

/** Copies `key` from a checkpoint folder into `model` when the shapes agree; returns whether it did. */
async function copyParam(model: AltCLIPModel, dir: string, key: string): Promise<boolean> {
  const v = model.namedParameters().get(key);
  const file = path.join(dir, 'model.safetensors');
  if (!v || !fs.existsSync(file)) return false;
  const r = await openSafetensors(file);
  try {
    if (!r.has(key) || r.info(key).shape.join() !== v.shape.join()) return false;
    const t = await r.read(key);
    tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, v.shape)));
    return true;
  } finally {
    await r.close();
  }
}

/** Builds the student (see DistillOptions.student) and says where its vision tower came from. */
async function buildStudent(o: DistillOptions & { teacher: string; student: string }, seed: number, log: (l: string) => void): Promise<AltCLIPModel> {
  const teacherIsFull = modelType(o.teacher) === 'clip';
  const vision = o.vision ?? (teacherIsFull ? o.teacher : undefined);
  if (vision && modelType(vision) !== 'clip') throw new Error(`--vision ${vision}: a CLIPModel folder (model_type clip) is expected`);
  if (isFolder(o.student) && modelType(o.student) === 'altclip') {
    log(`distill: student = AltCLIP folder ${o.student}`);
    return AltCLIPModel.fromPretrained(o.student);
  }
  let model: AltCLIPModel;
  if (isFolder(o.student)) {
    // An xlm-roberta-* folder: its encoder, plus pre_LN/transformation (new), CLIP vision and projections.
    if (vision) model = await AltCLIPModel.fromParts({ vision, text: o.student, textProjection: teacherIsFull ? o.teacher : undefined, seed });
    else {
      if (!o.studentConfig) throw new Error(`distill: student ${o.student} is not an AltCLIP folder; pass --vision <CLIP folder> or --student-config`);
      throw new Error('distill: building a student from an xlm-roberta folder without --vision is not supported; pass --vision <CLIP folder>');
    }
  } else {
    const cfgSrc = o.studentConfig ?? o.student;
    const cfg = (fs.existsSync(cfgSrc) ? readJsonConfig(cfgSrc) : getModelConfig(cfgSrc)) as unknown as AltCLIPConfig;
    if (cfg.model_type !== 'altclip') throw new Error(`distill: student config '${cfgSrc}' has model_type '${cfg.model_type}', expected 'altclip'`);
    if (vision) model = await AltCLIPModel.fromParts({ vision, text: cfg.text_config as unknown as Record<string, unknown>, textProjection: teacherIsFull ? o.teacher : undefined, projectDim: cfg.text_config.project_dim, seed });
    else model = new AltCLIPModel(cfg, { seed });
  }
  if (!teacherIsFull) {
    const ok = await copyParam(model, o.teacher, 'text_projection.weight');
    log(ok ? `distill: text_projection from the teacher ${o.teacher}` : `distill: warning: the teacher's text_projection does not fit the student's; it stays randomly initialised`);
  }
  log(`distill: student built from ${o.student}${vision ? `, vision tower + visual_projection + logit_scale from ${vision}` : ' (random vision tower: pass --vision <CLIP folder> for a usable AltCLIP_T)'}`);
  return model;
}


/** The corpus as (teacher text, student text) pairs: read (and reported) from a file, or given, with the en-en pairs. */
async function readCorpus(o: DistillOptions, log: (l: string) => void): Promise<{ pairs: ParallelPair[]; report?: ReadReport }> {
  if (typeof o.data === 'string') {
    const r = await readParallelCorpus(o.data, { enEn: o.enEn !== false, teacherField: o.teacherField, studentField: o.studentField });
    log(formatReport(r.report));
    return r;
  }
  const given = o.data ?? [];
  if (o.enEn === false) return { pairs: given };
  return { pairs: [...given, ...given.filter((p) => p.kind !== 'identity').map((p) => ({ ...p, studentText: p.teacherText, kind: 'identity' as const }))] };
}

/** The student's tokenizer: --tokenizer, else the student folder's SentencePiece model. */
async function studentTokenizer(o: DistillOptions, studentDir: string | undefined): Promise<TextTokenizer> {
  if (typeof o.tokenizer === 'object') return o.tokenizer;
  if (o.tokenizer) return loadTokenizer(o.tokenizer);
  if (studentDir && ['sentencepiece.bpe.model', 'tokenizer.json'].some((f) => fs.existsSync(path.join(studentDir, f)))) return loadTokenizer(studentDir);
  throw new Error('distill: pass --tokenizer <folder with sentencepiece.bpe.model or tokenizer.json> (the student tokenizer)');
}

/** The image processor the saved model gets: the vision source's, else the student folder's, else CLIP's defaults. */
function studentProcessor(visionDir: string | undefined, studentDir: string | undefined, model: AltCLIPModel): ImageProcessor {
  const dir = [visionDir, studentDir].find((d) => d && fs.existsSync(path.join(d, 'preprocessor_config.json')));
  return processorFor(dir, model.config.vision_config.image_size).processor;
}

/** Student features imitate the teacher's, through the named distillation loss. */
function distillTask(model: AltCLIPModel, o: DistillOptions): FeatureTask<DistillBatch> {
  const loss = DISTILLATION_LOSSES[o.loss ?? 'mse'];
  return {
    features: (b, ctx) => [model.textFeaturesForDistillation(b.ids, b.mask, { training: ctx.training && o.dropout !== false }), tf.clone(b.target)],
    constantFeatures: [1],
    loss: ([s, t]) => loss(s as tf.Tensor2D, t as tf.Tensor2D),
  };
}

/** Batches of student ids and the cached teacher features of their teacher texts. */
function distillBatches(pairs: ParallelPair[], feats: { data: Float32Array; dim: number }, row: Map<string, number>, tokenizer: TextTokenizer, maxLength: number): BatchSource<DistillBatch> {
  return {
    size: pairs.length,
    batch: (idx) => {
      const { ids, mask } = encodeTexts(tokenizer, idx.map((i) => pairs[i].studentText), maxLength);
      const t = new Float32Array(idx.length * feats.dim);
      idx.forEach((i, r) => {
        const k = row.get(pairs[i].teacherText)!;
        t.set(feats.data.subarray(k * feats.dim, (k + 1) * feats.dim), r * feats.dim);
      });
      return { ids, mask, target: tf.tensor2d(t, [idx.length, feats.dim]) };
    },
  };
}

/** A hub id's snapshot folder in the HF cache (a folder or a name stays as it is). */
async function localDir(spec: string | undefined): Promise<string | undefined> {
  return spec && isHubId(spec) ? resolveModelDir(spec, { parts: ['config', 'weights', 'tokenizer', 'processor'] }) : spec;
}

/** `altclip distill`: stage-1 teacher learning (MSE between the student's CLS feature and the CLIP teacher's). */
export async function runDistill(opts: DistillOptions): Promise<StageResult> {
  for (const k of ['teacher', 'student', 'data'] as const) if (!opts[k]) throw new Error(`distill: --${k} is required`);
  const { o, cfg, log } = resolveStage('distill', DISTILL_DEFAULTS, opts);
  const runDir = resolveRunDir(o, 'distill');
  const target = o.target ?? 'pooled';
  const { pairs, report } = await readCorpus(o, log);
  if (pairs.length === 0) throw new Error('distill: the corpus has no usable pairs');
  // Hub ids become their snapshot folders in the HF cache, so all below deals with local folders.
  const [teacher, student, vision] = [await localDir(o.teacher), (await localDir(o.student))!, await localDir(o.vision)];
  const teacherTok = typeof o.teacherTokenizer === 'object' ? o.teacherTokenizer : o.teacherTokenizer ? await loadTokenizer(o.teacherTokenizer) : await CLIPTokenizer.fromPretrained(teacher!);
  const unique = [...new Set(pairs.map((p) => p.teacherText))];
  const row = new Map(unique.map((t, i) => [t, i]));
  const feats = await teacherFeatures({
    teacherDir: teacher!, texts: unique, target, tokenizer: teacherTok, maxLength: o.teacherMaxLength,
    cacheDir: o.cacheDir ?? path.join(path.dirname(runDir), '.cache'), progress: o.progress, log,
  });
  const model = await buildStudent({ ...o, teacher: teacher!, student, vision }, cfg.seed ?? 0, log);
  try {
    const studentDir = isFolder(student) ? student : undefined;
    const tokenizer = await studentTokenizer(o, studentDir);
    const projDim = model.config.text_config.project_dim;
    if (projDim !== feats.dim) throw new Error(`distill: the student's feature size (project_dim ${projDim}) differs from the teacher's ${target} feature size ${feats.dim}`);
    // Only the text tower learns: the target sits before text_projection, which (from the teacher) stays fixed.
    const params = selectTrainable(model.namedParameters(), { ...o, lockImage: true, freeze: [/^text_projection\./, /^logit_scale$/, ...(o.freeze ?? [])] });
    storeFrozen(model, params, o.frozenDtype, log);
    const data = distillBatches(pairs, feats, row, tokenizer, o.maxLength ?? textMaxLength(model.config));
    const processor = studentProcessor(vision ?? (modelType(teacher!) === 'clip' ? teacher : undefined), studentDir, model);
    log(`distill: ${pairs.length} pairs (${unique.length} distinct teacher texts), target ${target}, ${params.size}/${model.namedParameters().size} parameter tensors trainable, run ${runDir}`);
    const { result, finalDir } = await trainStage({
      stage: 'distill', o, cfg, runDir, log, task: distillTask(model, o), data, model, tokenizer, processor, params,
      runConfig: { target, teacherFeatures: feats.file },
      finalMessage: (d) => `distill: AltCLIP_T written to ${d} (evaluate it with altclip eval)`,
    });
    return { ...result, runDir, finalDir, report, failedImages: 0 };
  } finally {
    model.dispose();
  }
}
