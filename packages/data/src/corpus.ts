import { resolveFileList } from './file-list';
import { isGzip, readOffsetLineBatches, readOffsetLines } from './lines';
import { newReport, ReadReport, skipRow } from './report';
import type { RecordReader, RecordSource, StreamUnit } from './stream';
import { formatFromName, INVALID_UTF8 } from './text-files';
import type { SkippedRow } from './types';
import { IMAGE_KEYS } from './pairs';

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

type LineResult = { teacher: string; student: string } | { skip: string; detail?: string } | null;

/**
 * Parses the lines of one corpus file in order (TSV `en<TAB>zh` or JSONL objects): a pair, a reason to skip the line,
 * or null for a line that is no data (blank, a header). The parser keeps the header state of its file, so a reader
 * starting mid-file first feeds it line 1. A line that is not valid UTF-8 (`invalidUtf8`) is skipped, never kept with
 * U+FFFD in place of its bad bytes.
 */
export function corpusLineParser(file: string, opts: CorpusOptions = {}): (text: string, line: number, invalidUtf8?: boolean) => LineResult {
  const format = opts.format ?? (formatFromName(file) === 'jsonl' ? 'jsonl' : 'tsv');
  const named = format === 'jsonl' || opts.header === true;
  const tf = opts.teacherField ?? (named ? 'en' : '0');
  const sf = opts.studentField ?? (named ? 'zh' : '1');
  let names: string[] | null = null;
  let first = true;
  const fieldsOf = (text: string): Record<string, unknown> | string[] | { skip: string; detail?: string } | null => {
    if (format === 'jsonl') {
      if (text.trim() === '') return null;
      try {
        const v = JSON.parse(text);
        return v === null || typeof v !== 'object' || Array.isArray(v) ? { skip: 'unparsable row', detail: 'not a JSON object' } : v;
      } catch (e) {
        return { skip: 'unparsable row', detail: `bad JSON (${(e as Error).message})` };
      }
    }
    const cells = text.split('\t');
    if (cells.length === 1 && cells[0].trim() === '') return null;
    if (opts.header === true && names === null) {
      names = cells.map((c) => c.trim());
      return null;
    }
    const wasFirst = first;
    first = false;
    if (wasFirst && opts.header === undefined) {
      // A header line like "en<TAB>zh" is not data.
      const v = cells.map((x) => x.trim().toLowerCase());
      if (v.length === 2 && ['en', 'english', 'src', 'source'].includes(v[0]) && v[1].length <= 8) return null;
      // An image-text pairs file (stage 2's): its image paths would be trained on as English text.
      if (v.some((c) => c !== '0' && IMAGE_KEYS.includes(c)) && v.some((c) => ['caption', 'text', 'title'].includes(c)))
        throw new Error(
          `${file}:1: the header '${cells.join('\t')}' is an image-text pairs file's; distill takes a parallel corpus (English<TAB>translation per line, ` +
            `or JSONL with "en" and "zh"); pairs files are for 'altclip contrastive --data'`,
        );
    }
    if (names) {
      if (cells.length !== names.length) return { skip: 'unparsable row', detail: `${cells.length} fields, header has ${names.length}` };
      return Object.fromEntries(names.map((n, i) => [n, cells[i]]));
    }
    if (cells.length < 2) return { skip: 'fewer than 2 tab-separated columns' };
    return cells; // fields by index: cells['0'] is cells[0]
  };
  return (text, line, invalidUtf8) => {
    if (invalidUtf8) {
      if (format === 'tsv' && opts.header === true && names === null) throw new Error(`${file}:${line}: the header row is not valid UTF-8`);
      first = false;
      return { skip: INVALID_UTF8, detail: 'another encoding, e.g. GBK or Latin-1?' };
    }
    const f = fieldsOf(text);
    if (f === null || (!Array.isArray(f) && 'skip' in f)) return f as LineResult;
    const t = (f as Record<string, unknown>)[tf];
    const s = (f as Record<string, unknown>)[sf];
    if (typeof t !== 'string' || t.trim() === '') return { skip: 'missing or empty teacher text', detail: `'${tf}'` };
    if (typeof s !== 'string' || s.trim() === '') return { skip: 'missing or empty student text', detail: `'${sf}'` };
    return { teacher: t.trim(), student: s.trim() };
  };
}

/**
 * Streams (teacherText, studentText) pairs from a parallel corpus: TSV `en<TAB>zh` lines or JSONL objects (.gz too).
 * Bad rows (wrong column count, empty side, bad JSON) are skipped and counted, never fatal.
 */
export async function* iterParallelCorpus(file: string, opts: CorpusOptions = {}): AsyncGenerator<ParallelPair> {
  for await (const rows of validRows(file, opts, opts.report ?? newReport(file))) {
    for (const r of rows) {
      yield { teacherText: r.teacher, studentText: r.student, line: r.line, kind: 'translation' };
      if (opts.enEn) yield { teacherText: r.teacher, studentText: r.teacher, line: r.line, kind: 'identity' };
    }
  }
}

/** The valid rows of one corpus file, a chunk at a time, with line numbers and byte offsets; bad rows counted in `report`. */
async function* validRows(file: string, opts: CorpusOptions, report: ReadReport): AsyncGenerator<{ teacher: string; student: string; line: number; offset: number }[]> {
  const parse = corpusLineParser(file, opts);
  for await (const lines of readOffsetLineBatches(file, { invalidUtf8: 'flag' })) {
    const out: { teacher: string; student: string; line: number; offset: number }[] = [];
    for (const { text, line, offset, invalidUtf8 } of lines) {
      const r = parse(text, line, invalidUtf8);
      if (r === null) continue;
      report.rows++;
      if ('skip' in r) {
        skipRow(report, line, r.skip, r.detail, opts.onSkip);
        continue;
      }
      report.kept++;
      out.push({ teacher: r.teacher, student: r.student, line, offset });
    }
    yield out;
  }
}

export async function readParallelCorpus(file: string, opts: CorpusOptions = {}): Promise<{ pairs: ParallelPair[]; report: ReadReport }> {
  const report = opts.report ?? newReport(file);
  const pairs: ParallelPair[] = [];
  for await (const p of iterParallelCorpus(file, { ...opts, report })) pairs.push(p);
  return { pairs, report };
}

/** The files of a corpus list: several joined with `::`, braces, globs (`corpus/*.tsv.gz`). Errors name the list. */
export function resolveCorpusFiles(spec: string | string[]): string[] {
  return resolveFileList(spec, { what: 'corpus' });
}

/** A stretch of a corpus file read as one stream unit: `size` records from the line at byte `offset`. */
export interface CorpusBlock extends StreamUnit {
  file: string;
  /** Byte offset and number of the block's first line (a data line). */
  offset: number;
  line: number;
  /** Teacher row (the index of the valid line over all files) of the block's first line. */
  firstRow: number;
  rows: number;
}

/** A streamed record: one pair and the teacher row it reads features from. */
export interface CorpusRecord {
  teacherText: string;
  studentText: string;
  kind: 'translation' | 'identity';
  /** Index of the corpus row (valid line, over all files in order): the teacher cache's row. */
  row: number;
}

export interface CorpusScan {
  files: string[];
  /** Valid lines over all files: the teacher rows. */
  rows: number;
  blocks: CorpusBlock[];
  reports: ReadReport[];
}

/**
 * One pass over a corpus (every file, in list order): counts and checks rows, calls onRow with each valid row's
 * teacher text (the cache key hashes them), and cuts plain files into blocks of `blockRows` rows that a stream can
 * open directly (a .gz file is one block: it cannot seek). Memory: one line, plus one entry per block.
 */
export async function scanCorpus(
  spec: string | string[], opts: CorpusOptions & { blockRows?: number; onRow?: (teacherText: string, row: number) => void; onProgress?: (rows: number) => void } = {},
): Promise<CorpusScan> {
  const files = resolveCorpusFiles(spec);
  const per = opts.enEn ? 2 : 1;
  const blockRows = opts.blockRows ?? 65536;
  const blocks: CorpusBlock[] = [];
  const reports: ReadReport[] = [];
  let rows = 0;
  for (const file of files) {
    const report = newReport(file);
    reports.push(report);
    let block: CorpusBlock | undefined;
    for await (const batch of validRows(file, opts, report)) {
      for (const { teacher, line, offset } of batch) {
        if (!block || (!isGzip(file) && block.rows >= blockRows)) {
          block = { name: `${file}:${line}`, file, offset, line, firstRow: rows, rows: 0, size: 0 };
          blocks.push(block);
        }
        block.rows++;
        block.size += per;
        opts.onRow?.(teacher, rows);
        rows++;
        if (rows % 1_000_000 === 0) opts.onProgress?.(rows);
      }
    }
  }
  return { files, rows, blocks, reports };
}

/** A scanned corpus as a RecordSource: units are its blocks, records its pairs (with enEn, translation then identity). */
export function corpusSource(scan: CorpusScan, opts: CorpusOptions = {}): RecordSource<CorpusRecord> {
  const per = opts.enEn ? 2 : 1;
  return {
    units: scan.blocks,
    open: async (unit, offset): Promise<RecordReader<CorpusRecord>> => {
      const b = scan.blocks[unit];
      const parse = corpusLineParser(b.file, opts);
      if (b.offset > 0) for await (const l of readOffsetLines(b.file, { invalidUtf8: 'flag' })) { parse(l.text, l.line, l.invalidUtf8); break; } // header state
      const lines = readOffsetLines(b.file, { start: b.offset, firstLine: b.line, invalidUtf8: 'flag' });
      let k = 0; // valid rows of the block read
      let pending: CorpusRecord[] = [];
      let skip = offset;
      return {
        async next(): Promise<CorpusRecord | null> {
          while (pending.length === 0 || skip > 0) {
            if (pending.length && skip > 0) {
              pending.shift();
              skip--;
              continue;
            }
            if (k >= b.rows) return null;
            const n = await lines.next();
            if (n.done) throw new Error(`${b.file}: ended inside a block at line ${b.line} (the file changed since it was scanned)`);
            const r = parse(n.value.text, n.value.line, n.value.invalidUtf8);
            if (r === null || 'skip' in r) continue;
            const row = b.firstRow + k++;
            pending = [{ teacherText: r.teacher, studentText: r.student, kind: 'translation', row }];
            if (per === 2) pending.push({ teacherText: r.teacher, studentText: r.teacher, kind: 'identity', row });
          }
          return pending.shift()!;
        },
        close: async () => {
          await lines.return(undefined);
        },
      };
    },
  };
}
