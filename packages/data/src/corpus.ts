import { formatFromName, readRows } from './text-files';
import { newReport, ReadReport, skipRow } from './report';
import type { SkippedRow } from './types';

/** One distillation example: the teacher (CLIP) reads teacherText, the student (XLM-R) reads studentText. */
export interface ParallelPair {
  teacherText: string;
  studentText: string;
  line: number;
  /** 'translation' for (en, zh) rows; 'identity' for the (en, en) copy that enEn adds. */
  kind: 'translation' | 'identity';
}

export interface CorpusOptions {
  format?: 'tsv' | 'jsonl';
  /** JSONL field names (default 'en' / 'zh'); TSV column indices as strings (default '0' / '1') unless header. */
  teacherField?: string;
  studentField?: string;
  /** TSV: first line is a header naming the columns (default: auto, a first line equal to the field names). */
  header?: boolean;
  /** Also yield (en, en) for every row: the paper's EN-EN pairs, essential for keeping English. */
  enEn?: boolean;
  report?: ReadReport;
  onSkip?: (s: SkippedRow) => void;
}

/**
 * Streams (teacherText, studentText) pairs from a parallel corpus: TSV `en<TAB>zh` lines or JSONL objects.
 * Bad rows (wrong column count, empty side, bad JSON) are skipped and counted, never fatal.
 */
export async function* iterParallelCorpus(file: string, opts: CorpusOptions = {}): AsyncGenerator<ParallelPair> {
  const format = opts.format ?? (formatFromName(file) === 'jsonl' ? 'jsonl' : 'tsv');
  const report = opts.report ?? newReport(file);
  const tf = opts.teacherField ?? (format === 'jsonl' || opts.header ? 'en' : '0');
  const sf = opts.studentField ?? (format === 'jsonl' || opts.header ? 'zh' : '1');
  let first = true;
  for await (const row of readRows(file, format, { header: format === 'tsv' ? opts.header ?? false : undefined })) {
    if (first && format === 'tsv' && opts.header === undefined && row.fields) {
      first = false;
      // A header line like "en<TAB>zh" is not data.
      const v = Object.values(row.fields).map((x) => String(x).trim().toLowerCase());
      if (v.length === 2 && ['en', 'english', 'src', 'source'].includes(v[0]) && v[1].length <= 8) continue;
    }
    first = false;
    report.rows++;
    if (!row.fields) {
      skipRow(report, row.line, row.reason ?? 'unparsable row', row.error, opts.onSkip);
      continue;
    }
    if (format === 'tsv' && Object.keys(row.fields).length < 2) {
      skipRow(report, row.line, 'fewer than 2 tab-separated columns', undefined, opts.onSkip);
      continue;
    }
    const t = row.fields[tf];
    const s = row.fields[sf];
    if (typeof t !== 'string' || t.trim() === '') {
      skipRow(report, row.line, 'missing or empty teacher text', `'${tf}'`, opts.onSkip);
      continue;
    }
    if (typeof s !== 'string' || s.trim() === '') {
      skipRow(report, row.line, 'missing or empty student text', `'${sf}'`, opts.onSkip);
      continue;
    }
    report.kept++;
    yield { teacherText: t.trim(), studentText: s.trim(), line: row.line, kind: 'translation' };
    if (opts.enEn) yield { teacherText: t.trim(), studentText: t.trim(), line: row.line, kind: 'identity' };
  }
}

export async function readParallelCorpus(file: string, opts: CorpusOptions = {}): Promise<{ pairs: ParallelPair[]; report: ReadReport }> {
  const report = opts.report ?? newReport(file);
  const pairs: ParallelPair[] = [];
  for await (const p of iterParallelCorpus(file, { ...opts, report })) pairs.push(p);
  return { pairs, report };
}
