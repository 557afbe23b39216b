import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { fileBatchLoader, listImages, readLines, prefetch, sequentialBatches } from '@altclip/data';
import { normalizeRows, textFeatures } from '@altclip/eval';
import type { ModelBundle } from '@altclip/models';
import { backendOf, optionsFromArgv, withOptions } from '../options';
import { assertOutput, writeSafetensors, atomicWriteFile } from '@altclip/checkpoint';
import * as tf from '@tensorflow/tfjs-core';
import { openModel, progressLogger, unknownTextWarning } from './inference-util';

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
  out: string;
  index: string;
  images: number;
  texts: number;
  skipped: { path: string; error: string }[];
}

/** Embeds images and/or texts in batches; writes NAME.safetensors (image_embeds, text_embeds) + NAME.index.json. */
export async function embed(
  bundle: ModelBundle,
  opts: { images?: string[]; texts?: string[]; out: string; batchSize?: number; normalize?: boolean; log?: (s: string) => void },
): Promise<EmbedResult> {
  const { model, tokenizer, processor } = bundle;
  const bs = opts.batchSize ?? 32;
  if (!(Number.isInteger(bs) && bs >= 1)) throw new Error(`embed: batch size must be an integer >= 1, got ${bs}`);
  const normalize = opts.normalize ?? true;
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const tensors = new Map<string, { shape: number[]; data: Float32Array; dtype: 'float32' }>();
  const index: any = { model: bundle.dir ? path.resolve(bundle.dir) : null, normalized: normalize };
  const skipped: EmbedResult['skipped'] = [];
  if (opts.images?.length) {
    const files = opts.images;
    const chunks: Float32Array[] = [];
    const kept: string[] = [];
    let d = 0;
    const t0 = Date.now();
    const report = progressLogger('embed');
    const loader = fileBatchLoader((i) => files[i], processor, { skipErrors: true });
    for await (const b of prefetch(sequentialBatches(0, files.length, bs), loader, 2)) {
      b.failed.forEach((f) => skipped.push({ path: files[f.index], error: f.error }));
      if (b.indices.length) {
        const f = tf.tidy(() => model.getImageFeatures(tf.tensor4d(b.data, b.shape)));
        d = f.shape[1];
        const data = f.dataSync() as Float32Array;
        f.dispose();
        chunks.push(normalize ? normalizeRows(data, b.indices.length, d) : data.slice());
        b.indices.forEach((i) => kept.push(files[i]));
      }
      const done = kept.length + skipped.length;
      const el = (Date.now() - t0) / 1000;
      report({ phase: 'images', done, total: files.length, elapsedSec: el, rate: done / Math.max(el, 1e-3) });
    }
    if (kept.length) {
      const all = new Float32Array(kept.length * d);
      let o = 0;
      for (const c of chunks) {
        all.set(c, o);
        o += c.length;
      }
      tensors.set('image_embeds', { shape: [kept.length, d], data: all, dtype: 'float32' });
    }
    index.image_embeds = { rows: kept.length, files: kept };
    if (skipped.length) {
      index.skipped_images = skipped;
      log(`${skipped.length} unreadable images skipped (first: ${skipped[0].error})`);
    }
    log(`images: ${kept.length} in ${((Date.now() - t0) / 1000).toFixed(1)}s (${(kept.length / Math.max((Date.now() - t0) / 1000, 1e-3)).toFixed(1)} images/s)`);
  }
  if (opts.texts?.length) {
    const texts = opts.texts;
    const t0 = Date.now();
    const report = progressLogger('embed');
    let d = 0;
    const rows: Float32Array[] = [];
    const unknown = unknownTextWarning(log);
    for (let s = 0; s < texts.length; s += bs) {
      const part = textFeatures(model, tokenizer, texts.slice(s, s + bs), { batchSize: bs, onUnknownOnly: unknown.onUnknownOnly });
      for (const r of part) {
        d = r.length;
        rows.push(normalize ? normalizeRows(r, 1, d) : r);
      }
      const el = (Date.now() - t0) / 1000;
      report({ phase: 'texts', done: rows.length, total: texts.length, elapsedSec: el, rate: rows.length / Math.max(el, 1e-3) });
    }
    unknown.flush();
    const all = new Float32Array(rows.length * d);
    rows.forEach((r, i) => all.set(r, i * d));
    tensors.set('text_embeds', { shape: [rows.length, d], data: all, dtype: 'float32' });
    index.text_embeds = { rows: texts.length, texts };
    log(`texts: ${texts.length} in ${((Date.now() - t0) / 1000).toFixed(1)}s (${(texts.length / Math.max((Date.now() - t0) / 1000, 1e-3)).toFixed(1)} texts/s)`);
  }
  if (tensors.size === 0) throw new Error('nothing to embed (no readable images and no texts)');
  const out = path.resolve(opts.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await writeSafetensors(out, tensors, { format: 'pt', normalized: String(normalize) });
  const indexFile = out.replace(/\.safetensors$/, '') + '.index.json';
  await atomicWriteFile(indexFile, [Buffer.from(JSON.stringify(index, null, 2) + '\n')]);
  return { out, index: indexFile, images: index.image_embeds?.rows ?? 0, texts: index.text_embeds?.rows ?? 0, skipped };
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
    const images = a.images ? await imageList(a.images) : undefined;
    const texts = a.texts ? await textList(a.texts) : undefined;
    const { bundle, precision } = await openModel(a.model!, backendOf(argv), a.precision);
    try {
      const r = await precision.autocast(() => embed(bundle, { images, texts, out: a.out!, batchSize: a.batchSize, normalize: !a.raw }));
      console.log(`wrote ${r.out} (${r.images} image and ${r.texts} text embeddings) and ${r.index}`);
    } finally {
      bundle.dispose();
    }
  },
};
