import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { isHubId, openSafetensors } from '@altclip/checkpoint';
import { CorpusOptions, CorpusScan, formatReport, ParallelPair, readParallelCorpus, ReadReport, resolveCorpusFiles, resolveShard, scanCorpus } from '@altclip/data';
import { ImageProcessor } from '@altclip/image';
import { AltCLIPModel, getModelConfig, altclipConfig, resolveModelDir, processorFor, textMaxLength } from '@altclip/models';
import { CLIPTokenizer, loadTokenizer, TextTokenizer } from '@altclip/tokenizers';
import type { FeatureTask } from '../grads';
import { DISTILLATION_LOSSES } from '../losses';
import { readJsonConfig } from '../options/resolve';
import { selectTrainable, storeFrozen } from '../params';
import type { BatchSource } from '../trainer';
import { corpusRowTexts, distillBatch, DistillBatch, distillStreamSource, ensureTeacherCache } from '../sources/distill-stream';
import { CacheDtype, DEFAULT_ROWS_PER_PART, numParts, partRangeOfShard, TeacherCacheReader, textsHasher } from '../sources/teacher-cache';
import type { DataSource } from '../sources/types';
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
export interface DistillOptions extends Omit<StageOptionsOf<'distill'>, 'data' | 'tokenizer' | 'teacherTokenizer' | 'teacherCacheDtype'> {
  /** Teacher cache storage: 'f32' (default) or 'f16' (half the disk, features rounded to half precision). */
  teacherCacheDtype?: CacheDtype;
  /** With cacheTeacherOnly: compute only shard i of n of the cache's parts ({index: i, count: n}); merge writes the index. */
  cacheShard?: { index: number; count: number };
  /** Parallel corpus: TSV `en<TAB>zh` or JSONL (.gz too; several joined with `::`, globs), or pairs already read. */
  data?: string | ParallelPair[];
  /** Student tokenizer (XLM-R SentencePiece folder); default: the student folder. */
  tokenizer?: string | TextTokenizer;
  /** Teacher tokenizer; default: the teacher folder's CLIP BPE (or the shipped one). */
  teacherTokenizer?: string | TextTokenizer;
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
    const raw = fs.existsSync(cfgSrc) ? readJsonConfig(cfgSrc) : getModelConfig(cfgSrc);
    if (raw.model_type !== 'altclip') throw new Error(`distill: student config '${cfgSrc}' has model_type '${raw.model_type}', expected 'altclip'`);
    const cfg = altclipConfig(raw as Record<string, unknown>, cfgSrc);
    if (vision) model = await AltCLIPModel.fromParts({ vision, text: cfg.text_config as Record<string, unknown>, textProjection: teacherIsFull ? o.teacher : undefined, projectDim: cfg.text_config.project_dim, seed });
    else model = new AltCLIPModel(cfg, { seed });
  }
  if (!teacherIsFull) {
    const ok = await copyParam(model, o.teacher, 'text_projection.weight');
    log(ok ? `distill: text_projection from the teacher ${o.teacher}` : `distill: warning: the teacher's text_projection does not fit the student's; it stays randomly initialised`);
  }
  log(`distill: student built from ${o.student}${vision ? `, vision tower + visual_projection + logit_scale from ${vision}` : ' (random vision tower: pass --vision <CLIP folder> for a usable AltCLIP_T)'}`);
  return model;
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
    // A mean of per-row terms: data-parallel ranks need no other rank's rows.
    rowwise: true,
  };
}

/** A hub id's snapshot folder in the HF cache (a folder or a name stays as it is). */
async function localDir(spec: string | undefined): Promise<string | undefined> {
  return spec && isHubId(spec) ? resolveModelDir(spec, { parts: ['config', 'weights', 'tokenizer', 'processor'] }) : spec;
}

/** `altclip distill`: stage-1 teacher learning (MSE between the student's CLS feature and the CLIP teacher's). */
export async function runDistill(opts: DistillOptions): Promise<StageResult> {
  const { o, cfg, log, parallel } = resolveStage('distill', DISTILL_DEFAULTS, opts);
  for (const k of ['teacher', 'student', 'data'] as const) if (!o[k]) throw new Error(`distill: --${k} is required`);
  const runDir = resolveRunDir(o, 'distill');
  // --shard (or a job array's index) splits only the teacher-feature computation; training needs the whole cache.
  if (o.shard !== undefined && !o.cacheTeacherOnly) throw new Error('distill: --shard computes part of the teacher cache; pass --cache-teacher-only (then altclip merge <cache folder>)');
  const part = o.cacheShard ?? (o.cacheTeacherOnly ? resolveShard(o.shard) : undefined);
  const target = o.target ?? 'pooled';
  // Hub ids become their snapshot folders in the HF cache, so all below deals with local folders.
  const [teacher, student, vision] = [(await localDir(o.teacher))!, (await localDir(o.student))!, await localDir(o.vision)];
  const teacherTok = typeof o.teacherTokenizer === 'object' ? o.teacherTokenizer : o.teacherTokenizer ? await loadTokenizer(o.teacherTokenizer) : await CLIPTokenizer.fromPretrained(teacher);
  const corpusOpts: CorpusOptions = { enEn: o.enEn !== false, teacherField: o.teacherField, studentField: o.studentField };
  const corpus = await openCorpus(o, corpusOpts, log);
  const per = o.teacherCacheRows ?? DEFAULT_ROWS_PER_PART;
  const shard = part ? partRangeOfShard(part.index, part.count, numParts(corpus.rows, per)) : undefined;
  const cache = await ensureTeacherCache({
    teacherDir: teacher, target, tokenizer: teacherTok, maxLength: o.teacherMaxLength, cacheDir: o.cacheDir ?? path.join(path.dirname(runDir), '.cache'),
    dtype: o.teacherCacheDtype, rowsPerPart: per, rows: corpus.rows, texts: corpus.texts, textsDigest: corpus.textsDigest, parts: shard, progress: o.progress, log,
  });
  if (o.cacheTeacherOnly) {
    const bytes = cache.index ? cache.index.dim * (cache.index.dtype === 'f16' ? 2 : 4) : 0;
    log(`distill: teacher cache ${cache.index ? 'complete' : `parts ${shard![0]}-${shard![1] - 1} written (join them with altclip merge ${cache.dir})`} in ${cache.dir}` + (bytes ? `; ${bytes} bytes per pair` : ''));
    return { status: 'completed', step: 0, totalSteps: 0, losses: [], records: [], runDir, report: corpus.report, failedImages: 0, teacherCache: cache.dir, writer: parallel.isWriter };
  }
  if (!cache.index) throw new Error('distill: cacheShard computes part of the teacher cache; pass cacheTeacherOnly');
  const feats = new TeacherCacheReader(cache.dir, cache.index);
  log(`distill: teacher cache ${cache.index.rows} rows, ${feats.bytesPerRow} bytes per pair (${cache.index.dim}-d ${cache.index.dtype})`);
  const model = await buildStudent({ ...o, teacher, student, vision }, cfg.seed ?? 0, log);
  try {
    const studentDir = isFolder(student) ? student : undefined;
    const tokenizer = await studentTokenizer(o, studentDir);
    if (model.config.text_config.project_dim !== feats.dim)
      throw new Error(`distill: the student's feature size (project_dim ${model.config.text_config.project_dim}) differs from the teacher's ${target} feature size ${feats.dim}`);
    // Only the text tower learns: the target sits before text_projection, which (from the teacher) stays fixed.
    const params = selectTrainable(model.namedParameters(), { ...o, lockImage: true, freeze: [/^text_projection\./, /^logit_scale$/, ...(o.freeze ?? [])] });
    storeFrozen(model, params, o.frozenDtype, log);
    const maxLength = o.maxLength ?? textMaxLength(model.config);
    const data: BatchSource<DistillBatch> | DataSource<DistillBatch> = corpus.scan
      ? distillStreamSource({ ...o, scan: corpus.scan, corpus: corpusOpts, cache: feats, tokenizer, maxLength })
      : { size: corpus.pairs!.length, batch: (idx) => distillBatch(idx.map((i) => corpus.pairs![i].studentText), idx.map((i) => corpus.rowOf![i]), feats, tokenizer, maxLength) };
    const processor = studentProcessor(vision ?? (modelType(teacher) === 'clip' ? teacher : undefined), studentDir, model);
    log(`distill: ${corpus.scan ? `streamed corpus, ${corpus.rows * (o.enEn !== false ? 2 : 1)}` : corpus.pairs!.length} pairs (${corpus.rows} teacher rows), target ${target}, ${params.size}/${model.namedParameters().size} parameter tensors trainable, run ${runDir}`);
    const { result, finalDir } = await trainStage({
      stage: 'distill', o, cfg, runDir, log, parallel, task: distillTask(model, o), data, model, tokenizer, processor, params,
      runConfig: { target, teacherFeatures: cache.dir },
      finalMessage: (d) => `distill: AltCLIP_T written to ${d} (evaluate it with altclip eval)`,
    });
    return { ...result, runDir, finalDir, report: corpus.report, failedImages: 0, teacherCache: cache.dir };
  } finally {
    model.dispose();
    feats.close();
  }
}
/** The corpus as stage 1 reads it: rows (one per valid line) for the teacher cache, and pairs in memory or a scan to stream. */
interface OpenCorpus {
  rows: number;
  texts: (first: number) => AsyncIterable<string>;
  textsDigest: string;
  report?: ReadReport;
  /** Memory: the pairs and the teacher row of each. */
  pairs?: ParallelPair[];
  rowOf?: Int32Array;
  /** Stream: the corpus's blocks. */
  scan?: CorpusScan;
}

const STREAM_ABOVE_BYTES = 256 * 2 ** 20;

/** Whether stage 1 streams its corpus (see DistillOptions.datasetType). */
function streamsCorpus(o: DistillOptions): boolean {
  if (typeof o.data !== 'string') return false;
  const t = o.datasetType ?? 'auto';
  if (t === 'stream') return true;
  if (t === 'memory') return false;
  if (t !== 'auto') throw new Error(`distill: --dataset-type must be auto, stream or memory, got '${t}'`);
  if (o.shuffleBuffer !== undefined || o.trainNumSamples !== undefined || o.datasetResampled) return true;
  const files = resolveCorpusFiles(o.data);
  return files.length > 1 || files.some((f) => /\.gz$/i.test(f)) || files.reduce((a, f) => a + fs.statSync(f).size, 0) > STREAM_ABOVE_BYTES;
}

async function openCorpus(o: DistillOptions, corpusOpts: CorpusOptions, log: (l: string) => void): Promise<OpenCorpus> {
  if (streamsCorpus(o)) {
    // One pass counts rows, cuts blocks and hashes the texts for the cache key (none is kept).
    const h = textsHasher();
    const scan = await scanCorpus(o.data as string, { ...corpusOpts, blockRows: o.teacherCacheRows ?? DEFAULT_ROWS_PER_PART, onRow: h.add, onProgress: (n) => log(`distill: scanned ${n} corpus rows`) });
    for (const r of scan.reports) log(formatReport(r));
    if (scan.rows === 0) throw new Error('distill: the corpus has no usable pairs');
    log(`distill: streaming the corpus (${scan.files.length} file(s), ${scan.rows} rows, ${scan.blocks.length} block(s))`);
    const report = scan.reports.length === 1 ? scan.reports[0] : undefined;
    return {
      rows: scan.rows, scan, report,
      texts: (first) => corpusRowTexts(scan, corpusOpts, first),
      textsDigest: h.digest(),
    };
  }
  let pairs: ParallelPair[];
  let report: ReadReport | undefined;
  if (typeof o.data === 'string') {
    const r = await readParallelCorpus(o.data, corpusOpts);
    pairs = r.pairs;
    report = r.report;
    log(formatReport(report));
  } else pairs = o.enEn === false ? o.data ?? [] : [...(o.data ?? []), ...(o.data ?? []).filter((p) => p.kind !== 'identity').map((p) => ({ ...p, studentText: p.teacherText, kind: 'identity' as const }))];
  if (pairs.length === 0) throw new Error('distill: the corpus has no usable pairs');
  // A row per translation pair (a corpus line); an identity pair reads its translation's row.
  const rowTexts: string[] = [];
  const rowByText = new Map<string, number>();
  const rowOf = new Int32Array(pairs.length);
  pairs.forEach((p, i) => {
    const known = p.kind === 'identity' ? rowByText.get(p.teacherText) : undefined;
    if (known !== undefined) rowOf[i] = known;
    else {
      rowOf[i] = rowTexts.length;
      rowByText.set(p.teacherText, rowTexts.length);
      rowTexts.push(p.teacherText);
    }
  });
  return {
    rows: rowTexts.length, pairs, rowOf, report,
    texts: async function* (first) {
      yield* rowTexts.slice(first);
    },
    textsDigest: (() => {
      const h = textsHasher();
      rowTexts.forEach(h.add);
      return h.digest();
    })(),
  };
}
