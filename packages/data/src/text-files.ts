import { LineOptions, readOffsetLines } from './lines';

export type TableFormat = 'csv' | 'tsv' | 'jsonl';

/** Picks csv / tsv / jsonl from the file name (.csv, .tsv/.txt, .jsonl/.json/.ndjson). */
export function formatFromName(file: string, fallback: TableFormat = 'tsv'): TableFormat {
  const f = file.toLowerCase().replace(/\.gz$/, '');
  if (f.endsWith('.csv')) return 'csv';
  if (f.endsWith('.tsv') || f.endsWith('.txt')) return 'tsv';
  if (f.endsWith('.jsonl') || f.endsWith('.ndjson') || f.endsWith('.json')) return 'jsonl';
  return fallback;
}

/** One line of readLines: 1-based number; invalidUtf8 only with `invalidUtf8: 'flag'`. */
export interface Line {
  text: string;
  line: number;
  invalidUtf8?: boolean;
}

/**
 * Lines of a text file (plain or .gz) with 1-based numbers; 
 tolerated, a UTF-8 BOM dropped. Lines are bounded
 * (1 MiB by default) and checked to be UTF-8: see LineOptions.
 */
export async function* readLines(file: string, opts: Pick<LineOptions, 'maxLineBytes' | 'invalidUtf8'> = {}): AsyncGenerator<Line> {
  for await (const { text, line, invalidUtf8 } of readOffsetLines(file, opts)) yield invalidUtf8 ? { text, line, invalidUtf8 } : { text, line };
}

/**
 * Splits one CSV record (RFC 4180: quoted fields, "" escapes). Returns null while a quoted field is still open,
 * so the caller can append the next line (fields may hold newlines).
 */
export function splitCsv(text: string, delimiter = ','): string[] | null {
  const out: string[] = [];
  let cur = '';
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cur += '"';
          i++;
        } else inQuotes = false;
      } else cur += ch;
    } else if (ch === '"' && cur === '') inQuotes = true;
    else if (ch === delimiter) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (inQuotes) return null;
  out.push(cur);
  return out;
}

/** A row of a CSV / TSV / JSONL file: fields by name (or by index as '0', '1', ... when there is no header). */
export interface Row {
  line: number;
  fields: Record<string, unknown> | null;
  /** Why the row could not be parsed at all (bad JSON, unbalanced quotes, invalid UTF-8). */
  error?: string;
  /** The kind of problem, for a report's counts (default: 'unparsable row'). */
  reason?: string;
}

/** The reason readRows gives rows that are not valid UTF-8: skipped, never kept with U+FFFD in place of the bad bytes. */
export const INVALID_UTF8 = 'invalid UTF-8';

/**
 * Streams the rows of a table file. CSV/TSV: the first row is the header when `header` is true (default), else
 * fields are named '0', '1', ...; TSV lines are split on tabs without quoting. JSONL: one object per line; blank
 * lines are ignored.
 */
export async function* readRows(file: string, format: TableFormat, opts: { header?: boolean } = {}): AsyncGenerator<Row> {
  const header = opts.header ?? true;
  let names: string[] | null = null;
  let pending: { text: string; line: number } | null = null;
  for await (const { text, line, invalidUtf8 } of readLines(file, { invalidUtf8: 'flag' })) {
    if (invalidUtf8) {
      if (format !== 'jsonl' && header && names === null) throw new Error(`${file}:${line}: the header row is not valid UTF-8`);
      yield { line, fields: null, error: 'not valid UTF-8 (another encoding, e.g. GBK or Latin-1?)', reason: INVALID_UTF8 };
      continue;
    }
    if (format === 'jsonl') {
      if (text.trim() === '') continue;
      try {
        const v = JSON.parse(text);
        if (v === null || typeof v !== 'object' || Array.isArray(v)) yield { line, fields: null, error: 'not a JSON object' };
        else yield { line, fields: v };
      } catch (e) {
        yield { line, fields: null, error: `bad JSON (${(e as Error).message})` };
      }
      continue;
    }
    let cells: string[] | null;
    let startLine = line;
    if (format === 'csv') {
      const joined: string = pending ? `${pending.text}\n${text}` : text;
      if (pending) startLine = pending.line;
      cells = splitCsv(joined);
      if (cells === null) {
        pending = { text: joined, line: startLine };
        if (line - startLine > 1000) {
          yield { line: startLine, fields: null, error: 'unterminated quoted field' };
          pending = null;
        }
        continue;
      }
      pending = null;
    } else {
      cells = text.split('\t');
    }
    if (cells.length === 1 && cells[0].trim() === '') continue;
    if (header && names === null) {
      names = cells.map((c) => c.trim());
      continue;
    }
    const fields: Record<string, unknown> = {};
    if (names) {
      if (cells.length !== names.length) {
        yield { line: startLine, fields: null, error: `${cells.length} fields, header has ${names.length}` };
        continue;
      }
      names.forEach((n, i) => (fields[n] = cells![i]));
    } else cells.forEach((c, i) => (fields[String(i)] = c));
    yield { line: startLine, fields };
  }
  if (pending) yield { line: pending.line, fields: null, error: 'unterminated quoted field at end of file' };
}
