import { readOffsetLines } from './lines';

export type TableFormat = 'csv' | 'tsv' | 'jsonl';

/** Picks csv / tsv / jsonl from the file name (.csv, .tsv/.txt, .jsonl/.json/.ndjson). */
export function formatFromName(file: string, fallback: TableFormat = 'tsv'): TableFormat {
  const f = file.toLowerCase().replace(/\.gz$/, '');
  if (f.endsWith('.csv')) return 'csv';
  if (f.endsWith('.tsv') || f.endsWith('.txt')) return 'tsv';
  if (f.endsWith('.jsonl') || f.endsWith('.ndjson') || f.endsWith('.json')) return 'jsonl';
  return fallback;
}

/** Lines of a text file (plain or .gz) with 1-based numbers; \r\n tolerated, a UTF-8 BOM dropped. */
export async function* readLines(file: string): AsyncGenerator<{ text: string; line: number }> {
  for await (const { text, line } of readOffsetLines(file)) yield { text, line };
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
  /** Why the row could not be parsed at all (bad JSON, unbalanced quotes). */
  error?: string;
}

/**
 * Streams the rows of a table file. CSV/TSV: the first row is the header when `header` is true (default), else
 * fields are named '0', '1', ...; TSV lines are split on tabs without quoting. JSONL: one object per line; blank
 * lines are ignored.
 */
export async function* readRows(file: string, format: TableFormat, opts: { header?: boolean } = {}): AsyncGenerator<Row> {
  const header = opts.header ?? true;
  let names: string[] | null = null;
  let pending: { text: string; line: number } | null = null;
  for await (const { text, line } of readLines(file)) {
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
