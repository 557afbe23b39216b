import { setupBackend, BackendName } from '@altclip/backend';
import type { Progress } from '@altclip/eval';
import { loadModelBundle, ModelBundle } from '@altclip/models';

/** Sets the backend, then opens a model folder (model + tokenizer + image processor), saying what it did. */
export async function openModel(dir: string, backend: string | undefined, log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<{ bundle: ModelBundle; backend: string }> {
  const choice = await setupBackend({ backend: backend as BackendName | 'auto' | undefined });
  const t0 = Date.now();
  const bundle = await loadModelBundle(dir);
  const cfg = bundle.model.config as any;
  log(`model ${dir} (${cfg.model_type}, projection ${cfg.projection_dim}) loaded in ${((Date.now() - t0) / 1000).toFixed(1)}s on ${choice.name}; images: ${bundle.processorSource}`);
  return { bundle, backend: choice.name };
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

/** A plain text table with right-aligned numeric columns. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, j) => Math.max(...cells.map((r) => [...(r[j] ?? '')].length)));
  const fmt = (r: string[], isHeader: boolean) =>
    r.map((c, j) => (j === 0 || isHeader || Number.isNaN(Number(c)) ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  ').trimEnd();
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
