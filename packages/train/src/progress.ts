/** A dependency-free progress display: a redrawn bar with ETA on a TTY, plain periodic lines otherwise. */
export interface Progress {
  update(step: number, info: Record<string, number | string>): void;
  /** Times ETA and samples/s from here, at `step` (a resumed run's first step; opening it may take a while). */
  begin(step: number): void;
  log(line: string): void;
  /** Erases the bar line so that another writer can print a line. */
  clear(): void;
  done(): void;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  s = Math.round(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function fmtVal(v: number | string): string {
  if (typeof v === 'string') return v;
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return v.toFixed(4);
}

export interface ProgressOptions {
  total: number;
  start?: number;
  label?: string;
  stream?: NodeJS.WriteStream;
  /** Non-TTY or `plain`: print a line every `every` steps (and at the end). */
  every?: number;
  quiet?: boolean;
  /** Periodic lines even on a TTY (no redrawn bar), e.g. for logs that a terminal also shows. */
  plain?: boolean;
  /** Samples a step processes (the global batch: all data-parallel ranks together): the display adds samples/s. */
  samplesPerStep?: number;
}

/** How a run reports progress: true/undefined a bar on a TTY (lines otherwise), 'plain' always lines, false nothing. */
export type ProgressMode = boolean | 'plain';

/** createProgress options for a ProgressMode. */
export function progressMode(mode: ProgressMode | undefined): { quiet: boolean; plain: boolean } {
  return { quiet: mode === false, plain: mode === 'plain' };
}

export function createProgress(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  const tty = !!stream.isTTY && !o.plain;
  let t0 = Date.now();
  let start = o.start ?? 0;
  const label = o.label ?? 'train';
  let lastDraw = 0;
  let drawn = false;
  const eta = (step: number) => {
    const done = step - start;
    const el = (Date.now() - t0) / 1000;
    return { el, eta: done > 0 ? (el / done) * (o.total - step) : NaN };
  };
  const text = (step: number, info: Record<string, number | string>) => {
    const { el, eta: left } = eta(step);
    const rate = o.samplesPerStep && el > 0 && step > start ? `  ${(((step - start) * o.samplesPerStep) / el).toFixed(1)} samples/s` : '';
    const kv =
      Object.entries(info)
        .map(([k, v]) => `${k} ${fmtVal(v)}`)
        .join('  ') + rate;
    return { el, left, kv };
  };
  return {
    update(step, info) {
      if (o.quiet) return;
      if (tty) {
        const now = Date.now();
        if (now - lastDraw < 100 && step < o.total) return;
        lastDraw = now;
        const { el, left, kv } = text(step, info);
        const width = 24;
        const fill = Math.round((width * Math.min(step, o.total)) / Math.max(1, o.total));
        const bar = '#'.repeat(fill) + '.'.repeat(width - fill);
        const line = `${label} [${bar}] ${step}/${o.total} ${fmtTime(el)}<${fmtTime(left)}  ${kv}`;
        stream.write(`\r${line.slice(0, (stream.columns || 120) - 1)}\x1b[K`);
        drawn = true;
      } else if (step === o.total || step % (o.every ?? 10) === 0) {
        const { left, kv } = text(step, info);
        stream.write(`${label} step ${step}/${o.total}  ${kv}  eta ${fmtTime(left)}\n`);
      }
    },
    begin(step) {
      start = step;
      t0 = Date.now();
    },
    log(line) {
      if (o.quiet) return;
      if (tty && drawn) stream.write('\r\x1b[K');
      stream.write(line + '\n');
      drawn = false;
    },
    clear() {
      if (tty && drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
    done() {
      if (!o.quiet && tty && drawn) stream.write('\n');
      drawn = false;
    },
  };
}
