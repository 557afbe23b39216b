import * as fs from 'fs';
import * as path from 'path';
import { INVALID_UTF8, readLines, TableFormat } from './text-files';
import { iterImageTextPairs } from './pairs';
import { newReport, ReadReport, skipRow } from './report';

/** A retrieval test set: images, their captions (grouped image by image) and the image of each caption. */
export interface RetrievalDataset {
  name: string;
  /** Absolute image paths. */
  images: string[];
  captions: string[];
  /** textToImage[j] = index into images of caption j. */
  textToImage: Int32Array;
  report: ReadReport;
}

export interface RetrievalReaderOptions {
  /** Image paths are relative to this folder (default: the folder of the file). */
  root?: string;
  /** Karpathy JSON: which split (default 'test'). */
  split?: string;
  /** Drop images whose file is missing, with their captions (default true; counted in the report). */
  checkFiles?: boolean;
  /** CN caption files whose keys have no extension (COCO-CN ids): appended when the bare name does not exist. */
  imageExt?: string;
}

function build(name: string, groups: Map<string, string[]>, report: ReadReport, checkFiles: boolean): RetrievalDataset {
  const images: string[] = [];
  const captions: string[] = [];
  const t2i: number[] = [];
  for (const [img, caps] of groups) {
    if (checkFiles && !fs.existsSync(img)) {
      skipRow(report, 0, 'missing image file', `${img} (${caps.length} captions dropped)`);
      continue;
    }
    for (const c of caps) {
      captions.push(c);
      t2i.push(images.length);
    }
    images.push(img);
  }
  if (images.length === 0) throw new Error(`${report.file}: no usable (image, caption) entries (${report.skipped} skipped)`);
  return { name, images, captions, textToImage: Int32Array.from(t2i), report };
}

/** Karpathy split JSON (Flickr30k / COCO): images[] with split, filepath?, filename and sentences[].raw. */
export function readKarpathy(file: string, opts: RetrievalReaderOptions = {}): RetrievalDataset {
  const root = opts.root ?? path.dirname(path.resolve(file));
  const split = opts.split ?? 'test';
  // The Karpathy split file's fields, each checked below before use.
  let doc: { dataset?: string; images?: Array<{ split?: string; filename?: unknown; filepath?: string; sentences?: Array<{ raw?: unknown }> } | null> } | null;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (!doc || !Array.isArray(doc.images)) throw new Error(`${file}: not a Karpathy split file (no "images" array)`);
  const report = newReport(file);
  const groups = new Map<string, string[]>();
  doc.images.forEach((im, k) => {
    if (im?.split !== split) return;
    report.rows++;
    if (typeof im.filename !== 'string' || !Array.isArray(im.sentences)) {
      skipRow(report, k, 'bad image entry', `images[${k}] lacks filename/sentences`);
      return;
    }
    const caps = im.sentences.map((s) => (typeof s?.raw === 'string' ? s.raw.trim() : '')).filter((s: string) => s);
    if (caps.length === 0) {
      skipRow(report, k, 'image without captions', im.filename);
      return;
    }
    report.kept++;
    groups.set(path.resolve(root, im.filepath ?? '', im.filename), caps);
  });
  return build(`${doc.dataset ?? path.basename(file)}-${split}`, groups, report, opts.checkFiles ?? true);
}

/**
 * Flickr30k-CN / COCO-CN caption files: `<image>#<n><TAB><caption>` lines (the image is the part before the
 * first '#'); captions are grouped per image in first-appearance order.
 */
export async function readCnCaptions(file: string, opts: RetrievalReaderOptions = {}): Promise<RetrievalDataset> {
  const root = opts.root ?? path.dirname(path.resolve(file));
  const report = newReport(file);
  const groups = new Map<string, string[]>();
  const resolved = new Map<string, string>();
  for await (const { text, line, invalidUtf8 } of readLines(file, { invalidUtf8: 'flag' })) {
    if (text.trim() === '') continue;
    report.rows++;
    if (invalidUtf8) {
      skipRow(report, line, INVALID_UTF8, text.slice(0, 60));
      continue;
    }
    let tab = text.indexOf('\t');
    if (tab < 0) tab = text.search(/\s/);
    const key = tab > 0 ? text.slice(0, tab).trim() : '';
    const cap = tab > 0 ? text.slice(tab + 1).trim() : '';
    const hash = key.indexOf('#');
    if (!key || hash <= 0 || !cap) {
      skipRow(report, line, 'not an "<image>#<n><TAB><caption>" line', text.slice(0, 60));
      continue;
    }
    const name = key.slice(0, hash);
    let img = resolved.get(name);
    if (!img) {
      img = path.resolve(root, name);
      if (!path.extname(name) || !fs.existsSync(img)) {
        const ext = opts.imageExt ?? '.jpg';
        if (!fs.existsSync(img) && fs.existsSync(img + ext)) img = img + ext;
      }
      resolved.set(name, img);
    }
    report.kept++;
    const caps = groups.get(img);
    if (caps) caps.push(cap);
    else groups.set(img, [cap]);
  }
  return build(path.basename(file), groups, report, opts.checkFiles ?? true);
}

/** A plain JSONL / CSV / TSV of (image, caption) rows; rows of the same image are grouped. */
export async function readRetrievalPairs(
  file: string,
  opts: RetrievalReaderOptions & { format?: TableFormat; imageColumn?: string; captionColumn?: string } = {},
): Promise<RetrievalDataset> {
  const report = newReport(file);
  const groups = new Map<string, string[]>();
  for await (const p of iterImageTextPairs(file, { ...opts, checkFiles: false, report })) {
    const caps = groups.get(p.image);
    if (caps) caps.push(p.caption);
    else groups.set(p.image, [p.caption]);
  }
  return build(path.basename(file), groups, report, opts.checkFiles ?? true);
}

export type RetrievalFormat = 'karpathy' | 'cn' | 'jsonl' | 'csv' | 'tsv';

/** Guesses the format: .json -> Karpathy; lines like `x.jpg#0<TAB>...` -> cn; else by extension. */
export function detectRetrievalFormat(file: string): RetrievalFormat {
  const lower = file.toLowerCase();
  if (lower.endsWith('.json')) return 'karpathy';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.csv')) return 'csv';
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4096);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  fs.closeSync(fd);
  const firstLine = buf.subarray(0, n).toString('utf8').split('\n')[0];
  return /^[^\t#]+#[^\t]*\t/.test(firstLine) ? 'cn' : 'tsv';
}

export async function readRetrievalDataset(
  file: string,
  opts: RetrievalReaderOptions & { format?: RetrievalFormat; imageColumn?: string; captionColumn?: string } = {},
): Promise<RetrievalDataset> {
  if (!fs.existsSync(file)) throw new Error(`retrieval data not found: ${file}`);
  const format = opts.format ?? detectRetrievalFormat(file);
  if (format === 'karpathy') return readKarpathy(file, opts);
  if (format === 'cn') return readCnCaptions(file, opts);
  return readRetrievalPairs(file, { ...opts, format });
}
