import { setupBackend, BackendName } from '@altclip/backend';
import type { Progress } from '@altclip/eval';
import { getPrecision, loadModelBundle, ModelBundle, Precision } from '@altclip/models';

/**
 * Sets the backend, then opens a model folder (model + tokenizer + image processor) in a precision, saying what it
 * did. Run the model's work inside `precision.autocast`.
 */
export async function openModel(
  dir: string,
  backend: string | undefined,
  precisionName = 'fp32',
  log: (s: string) => void = (s) => process.stderr.write(s + '\n'),
): Promise<{ bundle: ModelBundle; backend: string; precision: Precision }> {
  const precision = getPrecision(precisionName);
  const choice = await setupBackend({ backend: backend as BackendName | 'auto' | undefined });
  const t0 = Date.now();
  const bundle = await loadModelBundle(dir);
  const cfg = bundle.model.config;
  log(`model ${dir} (${cfg.model_type}, projection ${cfg.projection_dim}) loaded in ${((Date.now() - t0) / 1000).toFixed(1)}s on ${choice.name}; images: ${bundle.processorSource}`);
  if (precision.name !== 'fp32') log(precision.support().line);
  const stored = precision.prepareModel(bundle.model);
  if (stored) log(stored);
  return { bundle, backend: choice.name, precision };
}

/** Progress lines at most every `everyMs` (and the last one), to stderr; '\r' updates on a TTY. */
export function progressLogger(label: string, everyMs = 2000): (p: Progress) => void {
  let last = 0;
  const tty = process.stderr.isTTY;
  return (p) => {
    const now = Date.now();
    const final = p.done >= p.total;
    if (!final && now - last < everyMs) return;
    last = now;
    const unit = p.phase === 'texts' ? 'texts' : p.phase === 'classifier' ? 'classes' : 'images';
    const eta = p.rate > 0 ? (p.total - p.done) / p.rate : 0;
    const line = `${label} ${p.phase}: ${p.done}/${p.total} ${unit}, ${p.rate.toFixed(1)} ${unit}/s, ${p.elapsedSec.toFixed(0)}s elapsed${final ? '' : `, ETA ${eta.toFixed(0)}s`}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else process.stderr.write(line + '\n');
  };
}

/** Columns a string takes in a terminal: East Asian wide and full-width characters take two (UAX #11). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x300 && c < 0x370) || c === 0x200b) continue; // controls, combining marks, zero width space
    const wide =
      (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0x303e) || (c >= 0x3041 && c <= 0x33ff) || (c >= 0x3400 && c <= 0x4dbf) ||
      (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) || (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
      (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd);
    w += wide ? 2 : 1;
  }
  return w;
}

const pad = (s: string, w: number, left: boolean) => (left ? ' '.repeat(Math.max(0, w - displayWidth(s))) + s : s + ' '.repeat(Math.max(0, w - displayWidth(s))));

/** A plain text table with right-aligned numeric columns, aligned by display width (Chinese takes two columns). */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, j) => Math.max(...cells.map((r) => displayWidth(r[j] ?? ''))));
  const fmt = (r: string[], isHeader: boolean) =>
    r.map((c, j) => (j === 0 || isHeader || Number.isNaN(Number(c)) ? pad(c, widths[j], false) : pad(c, widths[j], true))).join('  ').trimEnd();
  return [fmt(cells[0], true), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map((r) => fmt(r, false))].join('\n');
}

export function fmt(x: number | null | undefined, digits = 4): string {
  return x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(digits);
}

/**
 * Collects the texts that tokenize to nothing but <unk> (the tokenizer knows none of their characters, so the model
 * scores them all alike) and warns once, naming them.
 */
export function unknownTextWarning(log: (s: string) => void = (s) => process.stderr.write(s + '\n')): { onUnknownOnly: (text: string) => void; flush(): void } {
  const seen = new Set<string>();
  return {
    onUnknownOnly: (t) => void seen.add(t),
    flush() {
      if (!seen.size) return;
      const names = [...seen].slice(0, 5).map((t) => JSON.stringify(t)).join(', ');
      log(`warning: ${seen.size} text(s) tokenize to nothing but <unk> (the tokenizer knows none of their characters; the model sees them all alike): ${names}${seen.size > 5 ? ', ...' : ''}`);
      seen.clear();
    },
  };
}
