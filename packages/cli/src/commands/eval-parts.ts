/**
 * `eval zeroshot|retrieval --shard i/N`: what a shard writes (its per-image logits, or its image and caption
 * embeddings, as a part beside --out) and how `altclip merge` turns the parts into the results JSON of the unsharded
 * run: metrics computed from all the rows, never averaged over shards.
 */
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, BackendName } from '@altclip/backend';
import { atomicWriteFile } from '@altclip/checkpoint';
import { Shard, shardPath, shardRange } from '@altclip/data';
import { retrievalMetrics, RetrievalMetrics, retrievalMetricsJson, zeroShotMetrics, zeroShotMetricsJson } from '@altclip/eval';
import { concatRows, Part, PartMerger, PartTensor, writePart } from '../parts';
import { fmt, table } from './inference-util';

/** A results JSON as `eval --out` writes it. */
export interface EvalResult {
  dataset: string;
  metrics: Record<string, number | null>;
  settings: Record<string, unknown>;
}

/** The settings that are counts or timings of a pass: a part's own, summed by merge; the others make the run. */
const PER_PART = ['n_images', 'n_texts', 'skipped_images', 'seconds', 'images_per_second', 'texts_per_second'];

/** The results JSON of the unsharded run with the rows of `this` shard cut out: its part's settings of the run. */
function runOf(dataset: string, settings: Record<string, unknown>): Record<string, unknown> {
  return { dataset, settings: Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, PER_PART.includes(k) ? null : v])) };
}

/** The run's settings with the counts and timings of all parts (key order kept: the file reads as the unsharded one). */
function filled(run: Record<string, unknown>, values: Record<string, number>): Record<string, unknown> {
  const s = { ...(run.settings as Record<string, unknown>) };
  for (const [k, v] of Object.entries(values)) if (k in s) s[k] = k.includes('second') ? +v.toFixed(2) : v;
  return s;
}

const sum = (parts: Part[], k: string) => parts.reduce((s, p) => s + (p.header.own[k] as number), 0);

/** Where a shard's part goes, and what to run once all are written. */
export function partNote(out: string, shard: Shard): string {
  return `part written to ${shardPath(out, shard)}; when all ${shard.count} are done: altclip merge ${out}.shard-*-of-${shardPath('', shard).split('-of-')[1]} --out ${out}`;
}

/** Positions [lo, hi) of `n` a shard evaluates: whole batches, so every batch is one the unsharded run computes too. */
export function shardWindow(n: number, shard: Shard | undefined, batchSize: number): [number, number] {
  return shard ? shardRange(n, shard, batchSize) : [0, n];
}

/** What a zero-shot shard scored: the logits [n, C] and labels of its kept images (none for an empty window). */
export interface ZeroShotRows {
  n: number;
  logits?: Float32Array;
  labels?: Int32Array;
  skipped: number;
  seconds: number;
  imageSeconds: number;
}

export async function writeZeroShotPart(out: string, shard: Shard, window: [number, number], total: number, result: EvalResult, classes: number, r: ZeroShotRows): Promise<string> {
  const tensors = new Map<string, PartTensor>([
    ['logits', { shape: [r.n, classes], data: r.logits ?? new Float32Array(0) }],
    ['labels', { shape: [r.n], data: r.labels ?? new Int32Array(0) }],
  ]);
  const own = { n: r.n, skipped: r.skipped, seconds: r.seconds, imageSeconds: r.imageSeconds };
  return writePart(shardPath(out, shard), { kind: 'zeroshot', shard, cuts: { images: { range: window, total } }, run: { ...runOf(result.dataset, result.settings), classes }, own }, tensors);
}

export const mergeZeroShot = (log: (s: string) => void): PartMerger => async (parts, out) => {
  const run = parts[0].header.run;
  const logits = concatRows(parts, 'logits');
  const labels = concatRows(parts, 'labels');
  const n = labels.shape[0];
  const metrics = zeroShotMetricsJson(zeroShotMetrics({ data: logits.data as Float32Array, shape: [n, run.classes as number] }, labels.data as Int32Array));
  const settings = filled(run, { n_images: n, skipped_images: sum(parts, 'skipped'), seconds: sum(parts, 'seconds'), images_per_second: n / Math.max(sum(parts, 'imageSeconds'), 1e-3) });
  return writeResult(out, { dataset: run.dataset as string, metrics, settings }, zeroShotTable(metrics), log);
};

/** The metrics of a retrieval results JSON. */
export function retrievalResultMetrics(m: RetrievalMetrics): Record<string, number> {
  return { ...retrievalMetricsJson(m), MR_percent: m.meanRecall * 100 };
}

/** What a retrieval shard embedded: normalised image [nI, D] and caption [nT, D] rows, each caption's image (0-based in the shard). */
export interface RetrievalRows {
  image: Float32Array;
  text: Float32Array;
  dim: number;
  textToImage: Int32Array;
  skipped: number;
  imageSeconds: number;
  textSeconds: number;
}

export async function writeRetrievalPart(out: string, shard: Shard, window: [number, number], total: number, result: EvalResult, r: RetrievalRows): Promise<string> {
  const nI = r.dim ? r.image.length / r.dim : 0;
  const tensors = new Map<string, PartTensor>([
    ['image_embeds', { shape: [nI, r.dim], data: r.image }],
    ['text_embeds', { shape: [r.textToImage.length, r.dim], data: r.text }],
    ['text_to_image', { shape: [r.textToImage.length], data: r.textToImage }],
  ]);
  const own = { skipped: r.skipped, imageSeconds: r.imageSeconds, textSeconds: r.textSeconds };
  return writePart(shardPath(out, shard), { kind: 'retrieval', shard, cuts: { images: { range: window, total } }, run: runOf(result.dataset, result.settings), own }, tensors);
}

export const mergeRetrieval = (log: (s: string) => void): PartMerger => async (parts, out) => {
  const run = parts[0].header.run;
  const settings = run.settings as Record<string, unknown>;
  const [img, txt] = [concatRows(parts, 'image_embeds'), concatRows(parts, 'text_embeds')];
  // Each part numbers its images from 0: offset by the images of the parts before it.
  const t2i = new Int32Array(txt.shape[0]);
  let [t, i0] = [0, 0];
  for (const p of parts) {
    for (const i of p.tensors.get('text_to_image')!.data) t2i[t++] = i0 + i;
    i0 += p.tensors.get('image_embeds')!.shape[0];
  }
  // The similarities on the backend the shards ran on (the unsharded run ranks them there): the same floats, the same ranks.
  await setupBackend({ backend: settings.backend as BackendName });
  const d = img.shape[1];
  const m = retrievalMetrics({ data: txt.data as Float32Array, shape: [txt.shape[0], d] }, { data: img.data as Float32Array, shape: [img.shape[0], d] }, t2i);
  const [is, ts] = [sum(parts, 'imageSeconds'), sum(parts, 'textSeconds')];
  const values = { n_images: img.shape[0], n_texts: txt.shape[0], skipped_images: sum(parts, 'skipped'), seconds: is + ts, images_per_second: img.shape[0] / Math.max(is, 1e-3), texts_per_second: txt.shape[0] / Math.max(ts, 1e-3) };
  return writeResult(out, { dataset: run.dataset as string, metrics: retrievalResultMetrics(m), settings: filled(run, values) }, retrievalTable(m), log);
};

export async function writeJson(file: string, value: unknown): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await atomicWriteFile(file, [Buffer.from(JSON.stringify(value, null, 2) + '\n')]);
}

/** The zero-shot metrics as the CLI prints them. */
export function zeroShotTable(m: EvalResult['metrics']): string {
  return table(['metric', 'value'], [['acc1', fmt(m.acc1)], ['acc5', fmt(m.acc5)], ['mean_per_class_recall', fmt(m.mean_per_class_recall)]]);
}

/** The retrieval recalls as the CLI prints them (R@k both ways, then MR and `after`). */
export function retrievalTable(m: RetrievalMetrics, after = ''): string {
  const ks = Object.keys(m.imageRetrievalRecall);
  const rows = [
    ['text->image', ...ks.map((k) => fmt(m.imageRetrievalRecall[+k] * 100, 2))],
    ['image->text', ...ks.map((k) => fmt(m.textRetrievalRecall[+k] * 100, 2))],
  ];
  return `${table(['direction', ...ks.map((k) => `R@${k}`)], rows)}\nMR ${fmt(m.meanRecall * 100, 2)}${after}`;
}

async function writeResult(out: string, r: EvalResult, shown: string, log: (s: string) => void): Promise<string[]> {
  log(shown);
  await writeJson(out, r);
  return [out];
}
