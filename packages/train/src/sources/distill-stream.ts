import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { corpusSource, CorpusOptions, CorpusRecord, CorpusScan, encodeTexts, Positioned } from '@altclip/data';
import { CLIPTextModelWithProjection } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';
import { createProgress, progressMode, ProgressMode } from '../progress';
import { recordStreamSource } from './record-stream';
import {
  teacherCacheKey, CacheDtype, numParts, readTeacherCacheIndex, TeacherCacheIndex, TeacherCacheReader, writeTeacherCacheIndex, writeTeacherCacheParts,
  DEFAULT_ROWS_PER_PART,
} from './teacher-cache';
import type { DataSource } from './types';
import { DEFAULT_SHUFFLE_BUFFER, StreamOptions } from './webdataset';

/** One stage-1 micro-batch: student token ids and the teacher's features. */
export interface DistillBatch {
  ids: tf.Tensor2D; // [n, L] int32
  mask: tf.Tensor2D; // [n, L] int32
  target: tf.Tensor2D; // [n, D]
}

/**
 * A stable identity of a model folder: its config, and the name, size and first and last 64 KiB of each weight file
 * (not times: a teacher copied to another machine keeps its key, so cache parts computed there fit together).
 */
export function folderFingerprint(dir: string): string {
  const h = crypto.createHash('sha256');
  h.update(fs.readFileSync(path.join(dir, 'config.json')));
  for (const f of fs.readdirSync(dir).sort()) {
    if (!/\.(safetensors|bin|json)$/.test(f) || f === 'config.json') continue;
    const file = path.join(dir, f);
    const size = fs.statSync(file).size;
    h.update(`${f}:${size}\n`);
    const fd = fs.openSync(file, 'r');
    try {
      const n = Math.min(65536, size);
      const b = Buffer.alloc(n);
      fs.readSync(fd, b, 0, n, 0);
      h.update(b);
      fs.readSync(fd, b, 0, n, size - n);
      h.update(b);
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest('hex');
}

/** Teacher texts of rows first, first+1, ... of a scanned corpus (read from the block holding `first`). */
export async function* corpusRowTexts(scan: CorpusScan, opts: CorpusOptions, first: number): AsyncGenerator<string> {
  const src = corpusSource(scan, { ...opts, enEn: false });
  let b = scan.blocks.findIndex((x) => x.firstRow + x.rows > first);
  if (b < 0) return;
  let offset = first - scan.blocks[b].firstRow;
  for (; b < scan.blocks.length; b++, offset = 0) {
    const r = await src.open(b, offset);
    try {
      for (let rec = await r.next(); rec; rec = await r.next()) yield rec.teacherText;
    } finally {
      await r.close();
    }
  }
}

export interface TeacherCacheArgs {
  teacherDir: string;
  target: 'pooled' | 'projected';
  tokenizer: TextTokenizer;
  maxLength?: number;
  cacheDir: string;
  dtype?: CacheDtype;
  rowsPerPart?: number;
  /** Teacher texts in row order (hashed into the key, and read again to compute parts). */
  rows: number;
  texts: (first: number) => AsyncIterable<string>;
  /** textsHasher() digest of every teacher text in row order (part of the key). */
  textsDigest: string;
  /** Only these parts (`--shard i/N` of --cache-teacher-only): written, and no index unless they complete it. */
  parts?: [number, number];
  batchSize?: number;
  progress?: ProgressMode;
  log: (l: string) => void;
}

/**
 * The sharded teacher cache of a corpus: found by its key, or computed (missing parts only) and indexed. Returns the
 * folder and its index (undefined when `parts` wrote only part of the cache).
 */
export async function ensureTeacherCache(a: TeacherCacheArgs): Promise<{ dir: string; key: string; index?: TeacherCacheIndex; cached: boolean }> {
  const key = teacherCacheKey({ teacher: folderFingerprint(a.teacherDir), target: a.target, maxLength: a.maxLength, vocabSize: a.tokenizer.vocabSize }, a.textsDigest, a.rows);
  const dtype = a.dtype ?? 'f32';
  const dir = path.join(a.cacheDir, `teacher-${key}-${dtype}`);
  const found = readTeacherCacheIndex(dir, key);
  if (found) {
    a.log(`distill: teacher features from cache ${dir} (${found.rows} rows, ${found.dim}-d ${found.dtype})`);
    return { dir, key, index: found, cached: true };
  }
  const per = a.rowsPerPart ?? DEFAULT_ROWS_PER_PART;
  const teacher = await CLIPTextModelWithProjection.fromPretrained(a.teacherDir, { trainable: false });
  try {
    const maxLength = a.maxLength ?? teacher.config.max_position_embeddings;
    const span = a.parts ?? [0, numParts(a.rows, per)];
    const progress = createProgress({ total: a.rows, label: 'teacher features', every: Math.max(1024, Math.ceil(a.rows / 20)), ...progressMode(a.progress) });
    const written = await writeTeacherCacheParts({
      dir, key, rows: a.rows, rowsPerPart: per, dtype, parts: span, texts: a.texts, batchSize: a.batchSize ?? 256,
      compute: async (texts) => {
        const enc = a.tokenizer.encode(texts, { contextLength: maxLength, truncate: true, maxLength, truncation: true, padding: 'longest' });
        const f = tf.tidy(() => {
          const o = teacher.forward({ inputIds: enc.inputIds, attentionMask: enc.attentionMask });
          return a.target === 'pooled' ? o.pooledOutput : o.textEmbeds;
        });
        const data = f.dataSync() as Float32Array;
        const dim = f.shape[1];
        f.dispose();
        return { data, dim };
      },
      onProgress: (done) => progress.update(done, {}),
    });
    progress.done();
    a.log(`distill: teacher features (${a.target}) of parts ${span[0]}-${span[1] - 1}: ${written.length} computed, the others already there, in ${dir}`);
  } finally {
    teacher.dispose();
  }
  const complete = !a.parts || (a.parts[0] === 0 && a.parts[1] >= numParts(a.rows, per));
  if (!complete) return { dir, key, cached: false };
  const index = await writeTeacherCacheIndex(dir, { key, rows: a.rows, rowsPerPart: per, about: { teacher: a.teacherDir, target: a.target, maxLength: String(a.maxLength ?? ''), vocabSize: String(a.tokenizer.vocabSize) } });
  return { dir, key, index, cached: false };
}

/** Student ids and teacher features of pairs, as a micro-batch. */
export function distillBatch(studentTexts: string[], rows: number[], cache: TeacherCacheReader, tokenizer: TextTokenizer, maxLength: number): DistillBatch {
  const { ids, mask } = encodeTexts(tokenizer, studentTexts, maxLength);
  const t = new Float32Array(rows.length * cache.dim);
  rows.forEach((r, k) => cache.rowInto(r, t, k * cache.dim));
  return { ids, mask, target: tf.tensor2d(t, [rows.length, cache.dim]) };
}

/** A streamed corpus as stage 1's DataSource: pairs in blocks, a shuffle buffer, features read from the cache by row. */
export function distillStreamSource(a: StreamOptions & { scan: CorpusScan; corpus: CorpusOptions; cache: TeacherCacheReader; tokenizer: TextTokenizer; maxLength: number }): DataSource<DistillBatch> {
  return recordStreamSource<CorpusRecord, DistillBatch>({
    source: corpusSource(a.scan, a.corpus),
    samplesPerEpoch: a.trainNumSamples,
    shuffleBuffer: a.shuffleBuffer ?? DEFAULT_SHUFFLE_BUFFER,
    resampled: a.datasetResampled,
    build: async (recs: Positioned<CorpusRecord>[]) =>
      recs.length ? distillBatch(recs.map((r) => r.record.studentText), recs.map((r) => r.record.row), a.cache, a.tokenizer, a.maxLength) : null,
  });
}
