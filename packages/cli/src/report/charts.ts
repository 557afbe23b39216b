import * as fs from 'fs';

/**
 * Self-contained HTML/SVG pieces shared by the demo's report.html and `altclip report`: no scripts, no external
 * files, charts that scale with the page width (SVG viewBox + width 100%) so a report reads on a phone.
 */

export interface Curve {
  stage: string;
  /** Name of the logged field ("loss", "distill_mse", "eval/zeroshot_acc1", ...). */
  term: string;
  points: Array<[number, number]>;
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Every parseable line of a metrics.jsonl (a line cut by a crash is skipped: the rest is still worth plotting). */
export function readMetricsRecords(file: string): Array<Record<string, unknown>> {
  if (!fs.existsSync(file)) return [];
  const out: Array<Record<string, unknown>> = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const rec = JSON.parse(line);
      if (rec && typeof rec === 'object' && typeof rec.step === 'number') out.push(rec);
    } catch {
      continue;
    }
  }
  return out;
}

/** One curve per numeric field of `records` against `step` (nested objects as "parent/child"), in first-seen order. */
export function metricCurves(records: Array<Record<string, unknown>>, stage: string, skip: string[] = ['step']): Curve[] {
  const curves = new Map<string, Array<[number, number]>>();
  const visit = (o: Record<string, unknown>, step: number, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (!prefix && skip.includes(k)) continue;
      if (typeof v === 'number' && Number.isFinite(v)) {
        if (!curves.has(prefix + k)) curves.set(prefix + k, []);
        curves.get(prefix + k)!.push([step, v]);
      } else if (v && typeof v === 'object' && !Array.isArray(v)) visit(v as Record<string, unknown>, step, `${prefix}${k}/`);
    }
  };
  for (const r of records) visit(r, r.step as number, '');
  return [...curves.entries()].map(([term, points]) => ({ stage, term, points }));
}

/** A run's loss-like curves (loss, loss terms such as mse) from its metrics.jsonl. */
export function readLossCurves(file: string, stage: string): Curve[] {
  const flat = readMetricsRecords(file).map((r) => ({ ...r, ...((r.terms as object) ?? {}) }));
  return metricCurves(flat, stage).filter((c) => /loss|mse/i.test(c.term));
}

/** "Nice" tick values covering [lo, hi], labelled with as many digits as their spacing needs. */
function ticks(lo: number, hi: number, n = 5): Array<{ v: number; label: string }> {
  if (!(hi > lo)) return [{ v: lo, label: String(+lo.toPrecision(3)) }];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(+t.toPrecision(12));
  // 2.6362 and 2.6364 must not both read 2.64: digits down to the spacing's own magnitude.
  const top = Math.max(...out.map(Math.abs));
  const digits = Math.min(12, Math.max(3, Math.floor(Math.log10(top || 1)) - Math.floor(Math.log10(step)) + 1));
  return out.map((v) => ({ v, label: String(+v.toPrecision(digits)) }));
}

/** A short, exact-enough rendering of a logged number (4 significant digits; integers as they are). */
export function fmtNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
}

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/** Opening tag of a chart: drawn in a width x height box, scaled to the width of its container. */
export function svgOpen(width: number, height: number, title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="${esc(title)}" font-family="sans-serif" font-size="12">`;
}

export interface LineChartOptions {
  width?: number;
  height?: number;
  /** Include 0 on the y axis (losses); otherwise the axis spans the data (accuracies, learning rates, memory). */
  zeroBased?: boolean;
}

/** A line chart of one or more curves against step, linear axes, the last value of each in its legend. */
export function lineChartSvg(title: string, curves: Curve[], o: LineChartOptions = {}): string {
  const width = o.width ?? 460;
  const height = o.height ?? 260;
  const m = { l: 58, r: 12, t: 30 + 14 * Math.max(0, curves.length - 1), b: 36 };
  const pts = curves.flatMap((c) => c.points);
  if (!pts.length) return `${svgOpen(width, height, title)}<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="13">${esc(title)}: no metrics logged</text></svg>`;
  const x0 = Math.min(...pts.map((p) => p[0]));
  const x1 = Math.max(...pts.map((p) => p[0]), x0 + 1);
  let y0 = Math.min(...pts.map((p) => p[1]));
  let y1 = Math.max(...pts.map((p) => p[1]));
  if (o.zeroBased !== false) {
    y0 = Math.min(0, y0);
    y1 = Math.max(0, y1);
  }
  const pad = (y1 - y0) * 0.05 || Math.abs(y1) * 0.05 || 1;
  y1 += pad;
  if (o.zeroBased === false || y0 < 0) y0 -= pad;
  const W = width - m.l - m.r;
  const H = height - m.t - m.b;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * W;
  const sy = (y: number) => m.t + H - ((y - y0) / (y1 - y0)) * H;
  const parts: string[] = [svgOpen(width, height, title)];
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(`<text x="${m.l}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (const { v, label } of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${m.l + W}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${label}</text>`);
  }
  for (const { v, label } of ticks(x0, x1)) {
    parts.push(`<line x1="${sx(v).toFixed(1)}" x2="${sx(v).toFixed(1)}" y1="${m.t + H}" y2="${m.t + H + 4}" stroke="#555"/>`);
    parts.push(`<text x="${sx(v).toFixed(1)}" y="${m.t + H + 16}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W}" height="${H}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${m.l + W / 2}" y="${height - 4}" text-anchor="middle" fill="#333">step</text>`);
  curves.forEach((c, i) => {
    const color = COLORS[i % COLORS.length];
    const d = c.points.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    // Few points (evaluations): mark them, with the value as a tooltip.
    if (c.points.length <= 30) for (const p of c.points) parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="${color}"><title>step ${p[0]}: ${fmtNumber(p[1])}</title></circle>`);
    // Legend in the top margin, right-aligned, one line per curve upward; a lone curve named as the chart says only its last value.
    const last = fmtNumber(+c.points[c.points.length - 1][1].toPrecision(3));
    const text = curves.length === 1 && c.term === title ? `last ${last}` : `${c.term} (last ${last})`;
    parts.push(`<text x="${m.l + W}" y="${m.t - 6 - 14 * (curves.length - 1 - i)}" text-anchor="end" fill="${color}">${esc(text)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;max-width:1100px;margin:16px auto;padding:0 12px;color:#222}
h1{font-size:1.5em;overflow-wrap:anywhere}.wide{overflow-x:auto}table{border-collapse:collapse;margin:12px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f4f4f4;white-space:nowrap}thead th{text-align:center}tbody th{text-align:left;white-space:normal}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,340px),1fr));gap:8px}figure{margin:0;min-width:0}figure svg{display:block;height:auto}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 12px}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
pre{overflow-x:auto;background:#f7f7f7;padding:8px;font-size:12px}.ex td{text-align:left}
code.cmd{font-size:12px;hyphens:none;overflow-wrap:normal;word-break:normal}code.cmd span{white-space:nowrap}dl.cmds dd{overflow-wrap:normal}
@media (max-width:520px){dl{grid-template-columns:minmax(0,1fr)}dd{margin-bottom:6px}}
`;

/** A whole page: UTF-8, phone viewport, the shared style sheet. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title>
<style>${CSS}</style></head><body>
${body}
</body></html>
`;
}

/** Charts in a wrapping row: side by side on a wide screen, one per line on a narrow one. */
export function chartRow(svgs: string[]): string {
  return `<div class="charts">\n${svgs.map((s) => `<figure>${s}</figure>`).join('\n')}\n</div>`;
}

/** Key/value facts as a definition list. */
export function factsHtml(facts: Array<[string, string]>): string {
  return `<dl>${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`;
}
