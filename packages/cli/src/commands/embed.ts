import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { createHash } from 'crypto';
import { fileBatchLoader, listImages, readLines, prefetch, resolveShard, sequentialBatches, Shard, shardPath, shardRange } from '@altclip/data';
import { normalizeRows, textFeatures } from '@altclip/eval';
import type { ModelBundle } from '@altclip/models';
import { backendOf, optionsFromArgv, withOptions } from '../options';
import { assertOutput, writeSafetensors, atomicWriteFile } from '@altclip/checkpoint';
import * as tf from '@tensorflow/tfjs-core';
import { openModel, progressLogger, unknownTextWarning } from './inference-util';
import { concatRows, PartMerger, PartTensor, writePart } from '../parts';
import { partNote } from './eval-parts';

/** Image paths from a folder (recursive, sorted) or a list file (one path per line, relative to the list). */
export async function imageList(src: string): Promise<string[]> {
  if (!fs.existsSync(src)) throw new Error(`--images: not found: ${src}`);
  if (fs.statSync(src).isDirectory()) return listImages(src, true);
  const out: string[] = [];
  for await (const { text } of readLines(src)) if (text.trim()) out.push(path.resolve(path.dirname(src), text.trim()));
  return out;
}

/** Texts from a file: one per line, or a .jsonl with a "text" (or "caption") field. */
export async function textList(file: string): Promise<string[]> {
  const out: string[] = [];
  const jsonl = /\.(jsonl|ndjson)$/i.test(file);
  for await (const { text, line } of readLines(file)) {
    if (!text.trim()) continue;
    if (!jsonl) out.push(text.trim());
    else {
      const o = JSON.parse(text);
      const t = o.text ?? o.caption;
      if (typeof t !== 'string') throw new Error(`${file}:${line}: no "text" or "caption" field`);
      out.push(t);
    }
  }
  return out;
}

export interface EmbedResult {
  /** The safetensors file written (with a shard: its part). */
  out: string;
  /** The index (none for a part: merge writes it). */
  index?: string;
  images: number;
  texts: number;
  skipped: { path: string; error: string }[];
}

/** What a pass embedded: rows in input order (unreadable images left out and listed). */
interface Embedded {
  image?: { data: Float32Array; d: number; files: string[] };
  text?: { data: Float32Array; d: number; texts: string[] };
  skipped: { path: string; error: string }[];
}

interface PassOptions {
  bs: number;
  normalize: boolean;
  log: (s: string) => void;
}

const rate = (n: number, t0: number) => `${n} in ${((Date.now() - t0) / 1000).toFixed(1)}s (${(n / Math.max((Date.now() - t0) / 1000, 1e-3)).toFixed(1)}`;

/** Image features of `files` in batches of bs from the first: [kept, D] (normalised unless raw). */
async function embedImages(bundle: ModelBundle, files: string[], o: PassOptions, e: Embedded): Promise<void> {
  const chunks: Float32Array[] = [];
  const kept: string[] = [];
  let d = 0;
  const t0 = Date.now();
  const report = progressLogger('embed');
  const loader = fileBatchLoader((i) => files[i], bundle.processor, { skipErrors: true });
  for await (const b of prefetch(sequentialBatches(0, files.length, o.bs), loader, 2)) {
    b.failed.forEach((f) => e.skipped.push({ path: files[f.index], error: f.error }));
    if (b.indices.length) {
      const f = tf.tidy(() => bundle.model.getImageFeatures(tf.tensor4d(b.data, b.shape))); // [B, D]
      d = f.shape[1];
      const data = f.dataSync() as Float32Array;
      f.dispose();
      chunks.push(o.normalize ? normalizeRows(data, b.indices.length, d) : data.slice());
      b.indices.forEach((i) => kept.push(files[i]));
    }
    const done = kept.length + e.skipped.length;
    const el = (Date.now() - t0) / 1000;
    report({ phase: 'images', done, total: files.length, elapsedSec: el, rate: done / Math.max(el, 1e-3) });
  }
  const data = new Float32Array(kept.length * d);
  chunks.reduce((off, c) => (data.set(c, off), off + c.length), 0);
  e.image = { data, d, files: kept };
  if (e.skipped.length) o.log(`${e.skipped.length} unreadable images skipped (first: ${e.skipped[0].error})`);
  o.log(`images: ${rate(kept.length, t0)} images/s)`);
}

/** Text features of `texts` in batches of bs from the first: [texts, D]. */
function embedTexts(bundle: ModelBundle, texts: string[], o: PassOptions, e: Embedded): void {
  const t0 = Date.now();
  const report = progressLogger('embed');
  let d = 0;
  const rows: Float32Array[] = [];
  const unknown = unknownTextWarning(o.log);
  for (let s = 0; s < texts.length; s += o.bs) {
    for (const r of textFeatures(bundle.model, bundle.tokenizer, texts.slice(s, s + o.bs), { batchSize: o.bs, onUnknownOnly: unknown.onUnknownOnly })) {
      d = r.length;
      rows.push(o.normalize ? normalizeRows(r, 1, d) : r);
    }
    const el = (Date.now() - t0) / 1000;
    report({ phase: 'texts', done: rows.length, total: texts.length, elapsedSec: el, rate: rows.length / Math.max(el, 1e-3) });
  }
  unknown.flush();
  const data = new Float32Array(rows.length * d);
  rows.forEach((r, i) => data.set(r, i * d));
  e.text = { data, d, texts };
  o.log(`texts: ${rate(texts.length, t0)} texts/s)`);
}

/** NAME.safetensors (image_embeds, text_embeds) + NAME.index.json (model, file names, texts, skipped images). */
async function writeEmbeddings(file: string, e: Embedded, model: string | null, normalize: boolean): Promise<{ out: string; index: string }> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array; dtype: 'float32' }>();
  const index: Record<string, unknown> = { model, normalized: normalize };
  if (e.image) {
    if (e.image.files.length) tensors.set('image_embeds', { shape: [e.image.files.length, e.image.d], data: e.image.data, dtype: 'float32' });
    index.image_embeds = { rows: e.image.files.length, files: e.image.files };
    if (e.skipped.length) index.skipped_images = e.skipped;
  }
  if (e.text) {
    tensors.set('text_embeds', { shape: [e.text.texts.length, e.text.d], data: e.text.data, dtype: 'float32' });
    index.text_embeds = { rows: e.text.texts.length, texts: e.text.texts };
  }
  if (tensors.size === 0) throw new Error('nothing to embed (no readable images and no texts)');
  const out = path.resolve(file);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await writeSafetensors(out, tensors, { format: 'pt', normalized: String(normalize) });
  const indexFile = out.replace(/\.safetensors$/, '') + '.index.json';
  await atomicWriteFile(indexFile, [Buffer.from(JSON.stringify(index, null, 2) + '\n')]);
  return { out, index: indexFile };
}

const digest = (xs: string[]) => createHash('sha256').update(JSON.stringify(xs)).digest('hex');

/** A shard's part: its rows of each list, and what the merged index needs (names, texts, skipped images). */
async function writeEmbedPart(out: string, shard: Shard, cuts: Record<'images' | 'texts', [number, number, string[]]>, e: Embedded, run: Record<string, unknown>): Promise<string> {
  const tensors = new Map<string, PartTensor>([
    ['image_embeds', { shape: [e.image?.files.length ?? 0, e.image?.d ?? 0], data: e.image?.data ?? new Float32Array(0) }],
    ['text_embeds', { shape: [e.text?.texts.length ?? 0, e.text?.d ?? 0], data: e.text?.data ?? new Float32Array(0) }],
  ]);
  const cut = ([lo, hi, all]: [number, number, string[]]) => ({ range: [lo, hi] as [number, number], total: all.length });
  // The lists themselves (by digest) make the run: parts of the same counts over other files are refused.
  const lists = { images: digest(cuts.images[2]), texts: digest(cuts.texts[2]) };
  const own = { files: e.image?.files ?? [], texts: e.text?.texts ?? [], skipped: e.skipped };
  return writePart(shardPath(out, shard), { kind: 'embed', shard, cuts: { images: cut(cuts.images), texts: cut(cuts.texts) }, run: { ...run, lists }, own }, tensors);
}

/** `altclip merge` of embed parts: the NAME.safetensors and NAME.index.json the unsharded run writes (the same bytes). */
export const mergeEmbed: PartMerger = async (parts, out) => {
  const run = parts[0].header.run as { model: string | null; normalized: boolean; images: boolean; texts: boolean };
  const all = <T>(k: string) => parts.flatMap((p) => p.header.own[k] as T[]);
  const e: Embedded = { skipped: all('skipped') };
  const [img, txt] = [concatRows(parts, 'image_embeds'), concatRows(parts, 'text_embeds')];
  if (run.images) e.image = { data: img.data as Float32Array, d: img.shape[1], files: all('files') };
  if (run.texts) e.text = { data: txt.data as Float32Array, d: txt.shape[1], texts: all('texts') };
  const w = await writeEmbeddings(out, e, run.model, run.normalized);
  return [w.out, w.index];
};

/**
 * Embeds images and/or texts in batches; writes NAME.safetensors (image_embeds, text_embeds) + NAME.index.json. With a
 * shard: its part of the images and of the texts (whole batches, so every row has the bits of the unsharded run), as
 * NAME.safetensors.shard-i-of-N.
 */
export async function embed(
  bundle: ModelBundle,
  opts: { images?: string[]; texts?: string[]; out: string; batchSize?: number; normalize?: boolean; shard?: Shard; run?: Record<string, unknown>; log?: (s: string) => void },
): Promise<EmbedResult> {
  const bs = opts.batchSize ?? 32;
  if (!(Number.isInteger(bs) && bs >= 1)) throw new Error(`embed: batch size must be an integer >= 1, got ${bs}`);
  const o: PassOptions = { bs, normalize: opts.normalize ?? true, log: opts.log ?? ((s: string) => process.stderr.write(s + '\n')) };
  const [images, texts, s] = [opts.images ?? [], opts.texts ?? [], opts.shard];
  const [ilo, ihi] = s ? shardRange(images.length, s, bs) : [0, images.length];
  const [tlo, thi] = s ? shardRange(texts.length, s, bs) : [0, texts.length];
  const e: Embedded = { skipped: [] };
  if (images.length) await embedImages(bundle, images.slice(ilo, ihi), o, e);
  if (texts.length) embedTexts(bundle, texts.slice(tlo, thi), o, e);
  const model = bundle.dir ? path.resolve(bundle.dir) : null;
  const counts = { images: e.image?.files.length ?? 0, texts: e.text?.texts.length ?? 0, skipped: e.skipped };
  if (!s) return { ...(await writeEmbeddings(opts.out, e, model, o.normalize)), ...counts };
  const run = { ...opts.run, model, normalized: o.normalize, images: images.length > 0, texts: texts.length > 0, batch_size: bs };
  const file = await writeEmbedPart(path.resolve(opts.out), s, { images: [ilo, ihi, images], texts: [tlo, thi, texts] }, e, run);
  return { out: file, ...counts };
}

export const embedCommand: CommandModule = {
  command: 'embed',
  describe: 'Embed images and/or texts into a safetensors file (+ an index JSON of file names / texts)',
  builder: (y) =>
    withOptions(y, 'embed').check((a) => {
      if (!a.images && !a.texts) throw new Error('give --images and/or --texts');
      return true;
    }),
  handler: async (argv) => {
    const a = optionsFromArgv('embed', argv);
    assertOutput(a.out!, 'file', '--out');
    const shard = resolveShard(a.shard);
    const images = a.images ? await imageList(a.images) : undefined;
    const texts = a.texts ? await textList(a.texts) : undefined;
    const { bundle, precision, backend } = await openModel(a.model!, backendOf(argv), a.precision);
    try {
      // A part records the backend and precision: parts computed otherwise would not merge into the same bits.
      const r = await precision.autocast(() => embed(bundle, { images, texts, out: a.out!, batchSize: a.batchSize, normalize: !a.raw, shard, run: { backend, precision: precision.name } }));
      if (shard) console.log(`embed, shard ${shard.index}/${shard.count}: ${r.images} image and ${r.texts} text embeddings; ${partNote(a.out!, shard)}`);
      else console.log(`wrote ${r.out} (${r.images} image and ${r.texts} text embeddings) and ${r.index}`);
    } finally {
      bundle.dispose();
    }
  },
};
