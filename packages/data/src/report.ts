import type { SkippedRow } from './types';

/** Counts of kept / skipped rows of one input file, with the first few skipped rows as examples. */
export interface ReadReport {
  file: string;
  rows: number;
  kept: number;
  skipped: number;
  reasons: Record<string, number>;
  examples: SkippedRow[];
}

export function newReport(file: string): ReadReport {
  return { file, rows: 0, kept: 0, skipped: 0, reasons: {}, examples: [] };
}

/** Records a skipped row; `reason` is the category counted, `detail` goes into the example. */
export function skipRow(r: ReadReport, line: number, reason: string, detail?: string, onSkip?: (s: SkippedRow) => void): void {
  r.skipped++;
  r.reasons[reason] = (r.reasons[reason] ?? 0) + 1;
  const s = { file: r.file, line, reason: detail ? `${reason}: ${detail}` : reason };
  if (r.examples.length < 20) r.examples.push(s);
  onSkip?.(s);
}

/** One human-readable paragraph: "file: 1000 rows, 997 kept, 3 skipped (missing image file: 2, empty caption: 1)". */
export function formatReport(r: ReadReport): string {
  const why = Object.entries(r.reasons)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  let s = `${r.file}: ${r.rows} rows, ${r.kept} kept, ${r.skipped} skipped${why ? ` (${why})` : ''}`;
  for (const e of r.examples.slice(0, 5)) s += `\n  line ${e.line}: ${e.reason}`;
  return s;
}

/** formatReport of a stream's report: its examples name the shard and sample themselves, so no "line N". */
export function formatStreamReport(r: ReadReport): string {
  return formatReport(r).replace(/\n {2}line \d+: /g, '\n  ');
}
