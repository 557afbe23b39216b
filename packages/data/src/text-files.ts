import * as fs from 'fs';

export type TableFormat = 'csv' | 'tsv' | 'jsonl';

/** Picks csv / tsv / jsonl from the file name (.csv, .tsv/.txt, .jsonl/.json/.ndjson). */
export function formatFromName(file: string, fallback: TableFormat = 'tsv'): TableFormat {
  const f = file.toLowerCase().replace(/\.gz$/, '');
  if (f.endsWith('.csv')) return 'csv';
  if (f.endsWith('.tsv') || f.endsWith('.txt')) return 'tsv';
  if (f.endsWith('.jsonl') || f.endsWith('.ndjson') || f.endsWith('.json')) return 'jsonl';
  return fallback;
}

/**
 * The longest line a text file may have (1 MiB): far beyond any caption, sentence or path, short enough that a file
 * without line breaks (a binary file, one endless line) fails at once instead of growing a string to the heap limit.
 */
export const MAX_LINE_BYTES = 1 << 20;

export interface LineOptions {
  /** Bytes per line (default MAX_LINE_BYTES); a longer line is an error naming the file and line. */
  maxLineBytes?: number;
  /**
   * A line that is not valid UTF-8: 'throw' (default) an error naming the file and line; 'flag' yield it with
   * `invalidUtf8` set (its text has U+FFFD in place of the bad bytes) so the caller can skip and count it.
   */
  invalidUtf8?: 'throw' | 'flag';
}

export interface Line {
  text: string;
  /** 1-based. */
  line: number;
  /** Only with invalidUtf8: 'flag'. */
  invalidUtf8?: boolean;
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lossy = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Lines of a text file with 1-based numbers; \n, \r\n and a lone \r end a line (as readline), a UTF-8 BOM is dropped.
 * Lines are bounded (maxLineBytes) and checked to be UTF-8 (see LineOptions).
 */
export async function* readLines(file: string, opts: LineOptions = {}): AsyncGenerator<Line> {
  if (!fs.existsSync(file)) throw new Error(`file not found: ${file}`);
  const max = opts.maxLineBytes ?? MAX_LINE_BYTES;
  let parts: Buffer[] = [];
  let pending = 0; // bytes of the unfinished line in `parts`
  let line = 0;
  let skipLf = false; // the previous chunk ended with \r: a \n right after it belongs to that line break
  const tooLong = () =>
    new Error(`${file}:${line + 1}: line longer than ${max.toLocaleString('en-US')} bytes (no line break); expected one item per line, is this a text file?`);
  const finish = (bytes: Buffer): Line => {
    line++;
    let text: string;
    let invalidUtf8 = false;
    try {
      text = strict.decode(bytes);
    } catch {
      if (opts.invalidUtf8 !== 'flag') throw new Error(`${file}:${line}: not valid UTF-8 (is the file in another encoding, e.g. GBK or Latin-1? convert it with iconv)`);
      text = lossy.decode(bytes);
      invalidUtf8 = true;
    }
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return invalidUtf8 ? { text, line, invalidUtf8 } : { text, line };
  };
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    if (skipLf && chunk.length && chunk[0] === 0x0a) start = 1;
    skipLf = false;
    for (let i = start; i < chunk.length; i++) {
      const c = chunk[i];
      if (c !== 0x0a && c !== 0x0d) continue;
      if (pending + i - start > max) throw tooLong();
      const piece = chunk.subarray(start, i);
      yield finish(parts.length ? Buffer.concat([...parts, piece]) : piece);
      parts = [];
      pending = 0;
      if (c === 0x0d) {
        if (i + 1 < chunk.length) {
          if (chunk[i + 1] === 0x0a) i++;
        } else skipLf = true;
      }
      start = i + 1;
    }
    if (start < chunk.length) {
      pending += chunk.length - start;
      if (pending > max) throw tooLong();
      parts.push(Buffer.from(chunk.subarray(start))); // a copy: the stream may reuse its buffer
    }
  }
  if (pending) yield finish(Buffer.concat(parts));
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
