import * as fs from 'fs';
import * as path from 'path';
import { formatFromName, readRows, TableFormat } from './text-files';
import { newReport, ReadReport, skipRow } from './report';
import type { SkippedRow } from './types';

export interface ImageTextPair {
  /** Absolute (resolved) image path. */
  image: string;
  caption: string;
  lang?: string;
  /** 1-based line of the row in its file. */
  line: number;
}

export interface PairReaderOptions {
  format?: TableFormat;
  /** Column / field names; defaults: the first present of image|filepath|file|path|img|image_path (or '0' without header). */
  imageColumn?: string;
  captionColumn?: string;
  langColumn?: string;
  /** Image paths are relative to this folder; default: the folder of the file. */
  root?: string;
  /** CSV/TSV: first row is a header (default true). */
  header?: boolean;
  /** Skip rows whose image file does not exist (default true). */
  checkFiles?: boolean;
  /** Filled as rows are read (counts, reasons, examples). */
  report?: ReadReport;
  onSkip?: (s: SkippedRow) => void;
}

/** Columns / fields that hold an image path, in order of preference ('0': the first column without a header). */
export const IMAGE_KEYS = ['image', 'filepath', 'file', 'path', 'img', 'image_path', 'filename', 'url', '0'];
const CAPTION_KEYS = ['caption', 'text', 'title', 'sentence', 'raw', '1'];
const LANG_KEYS = ['lang', 'language'];

function pick(fields: Record<string, unknown>, explicit: string | undefined, candidates: string[]): string | undefined {
  if (explicit !== undefined) return explicit;
  return candidates.find((k) => k in fields);
}

/**
 * Streams (image, caption[, lang]) pairs from a CSV / TSV / JSONL file. Bad rows (unparsable, missing or empty
 * fields, missing image file) are skipped and counted in opts.report, never fatal.
 */
export async function* iterImageTextPairs(file: string, opts: PairReaderOptions = {}): AsyncGenerator<ImageTextPair> {
  const format = opts.format ?? formatFromName(file);
  const root = opts.root ?? path.dirname(path.resolve(file));
  const report = opts.report ?? newReport(file);
  const checkFiles = opts.checkFiles ?? true;
  for await (const row of readRows(file, format, { header: opts.header })) {
    report.rows++;
    if (!row.fields) {
      skipRow(report, row.line, row.reason ?? 'unparsable row', row.error, opts.onSkip);
      continue;
    }
    const ik = pick(row.fields, opts.imageColumn, IMAGE_KEYS);
    const ck = pick(row.fields, opts.captionColumn, CAPTION_KEYS);
    const img = ik !== undefined ? row.fields[ik] : undefined;
    const cap = ck !== undefined ? row.fields[ck] : undefined;
    if (typeof img !== 'string' || img.trim() === '') {
      skipRow(report, row.line, 'missing image field', ik ? `no '${ik}'` : 'no image column', opts.onSkip);
      continue;
    }
    if (typeof cap !== 'string' || cap.trim() === '') {
      skipRow(report, row.line, 'missing or empty caption', ck ? `'${ck}'` : 'no caption column', opts.onSkip);
      continue;
    }
    const image = path.resolve(root, img.trim());
    if (checkFiles && !fs.existsSync(image)) {
      skipRow(report, row.line, 'missing image file', image, opts.onSkip);
      continue;
    }
    const lk = pick(row.fields, opts.langColumn, LANG_KEYS);
    const lang = lk !== undefined && typeof row.fields[lk] === 'string' ? (row.fields[lk] as string).trim() : undefined;
    report.kept++;
    yield { image, caption: cap.trim(), line: row.line, ...(lang ? { lang } : {}) };
  }
}

/** All valid pairs of a file in memory (fine up to millions of rows), with the skip report. */
export async function readImageTextPairs(file: string, opts: PairReaderOptions = {}): Promise<{ pairs: ImageTextPair[]; report: ReadReport }> {
  const report = opts.report ?? newReport(file);
  const pairs: ImageTextPair[] = [];
  for await (const p of iterImageTextPairs(file, { ...opts, report })) pairs.push(p);
  return { pairs, report };
}
