import * as fs from 'fs';

/** One row of the demo's Table 1: zero-shot top-1 and text->image / image->text retrieval, per language. */
export interface StageScores {
  /** 'teacher' (stage 0), 'AltCLIP_T' (after stage 1) or 'AltCLIP' (after stage 2). */
  model: string;
  zeroShot: { en: number; zh: number };
  retrieval: {
    en: RetrievalRow;
    zh: RetrievalRow;
  };
}

export interface RetrievalRow {
  /** text->image recall@1/5/10 (fractions). */
  t2i: [number, number, number];
  /** image->text recall@1/5/10. */
  i2t: [number, number, number];
  /** Mean of the six recalls. */
  mr: number;
}

export interface LossCurve {
  stage: string;
  /** Name of the logged term ("loss", "distill_mse", ...). */
  term: string;
  points: Array<[number, number]>;
}

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : 'n/a');

/** The paper's Table 1 layout as aligned plain text (percentages). */
export function formatTable(rows: StageScores[]): string {
  const head = ['model', 'EN top-1', 'ZH top-1', 'EN T->I R@1/5/10', 'EN MR', 'ZH T->I R@1/5/10', 'ZH MR'];
  const body = rows.map((r) => [
    r.model,
    pct(r.zeroShot.en),
    pct(r.zeroShot.zh),
    r.retrieval.en.t2i.map(pct).join(' / '),
    pct(r.retrieval.en.mr),
    r.retrieval.zh.t2i.map(pct).join(' / '),
    pct(r.retrieval.zh.mr),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** The same table as GitHub markdown (for the README). */
export function markdownTable(rows: StageScores[]): string {
  const out = ['| model | EN top-1 | ZH top-1 | EN T→I R@1/5/10 | EN MR | ZH T→I R@1/5/10 | ZH MR |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    out.push(`| ${r.model} | ${pct(r.zeroShot.en)} | ${pct(r.zeroShot.zh)} | ${r.retrieval.en.t2i.map(pct).join(' / ')} | ${pct(r.retrieval.en.mr)} | ${r.retrieval.zh.t2i.map(pct).join(' / ')} | ${pct(r.retrieval.zh.mr)} |`);
  }
  return out.join('\n');
}

/** Reads a run's metrics.jsonl: one curve per numeric loss-like field (loss, loss terms), against `step`. */
export function readLossCurves(file: string, stage: string): LossCurve[] {
  if (!fs.existsSync(file)) return [];
  const curves = new Map<string, Array<[number, number]>>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // a line cut by a crash: the rest of the file is still worth plotting
    }
    const step = rec.step;
    if (typeof step !== 'number') continue;
    const flat: Record<string, unknown> = { ...rec, ...((rec.terms as object) ?? {}) };
    for (const [k, v] of Object.entries(flat)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || !/loss|mse/i.test(k)) continue;
      if (!curves.has(k)) curves.set(k, []);
      curves.get(k)!.push([step, v]);
    }
  }
  return [...curves.entries()].map(([term, points]) => ({ stage, term, points }));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** "Nice" tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(+t.toPrecision(12));
  return out;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/** A self-contained SVG line chart of one stage's loss curves (log-free, linear axes, light smoothing shown dashed). */
export function lossChartSvg(title: string, curves: LossCurve[], width = 460, height = 260): string {
  const m = { l: 52, r: 12, t: 28, b: 36 };
  const pts = curves.flatMap((c) => c.points);
  if (!pts.length) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-family="sans-serif" font-size="13">${esc(title)}: no metrics logged</text></svg>`;
  }
  const x0 = Math.min(...pts.map((p) => p[0]));
  const x1 = Math.max(...pts.map((p) => p[0]), x0 + 1);
  const y0 = Math.min(0, ...pts.map((p) => p[1]));
  const y1 = Math.max(...pts.map((p) => p[1])) * 1.05 || 1;
  const W = width - m.l - m.r;
  const H = height - m.t - m.b;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * W;
  const sy = (y: number) => m.t + H - ((y - y0) / (y1 - y0)) * H;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(`<text x="${m.l}" y="17" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${m.l + W}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" fill="#555">${+t.toPrecision(3)}</text>`);
  }
  for (const t of ticks(x0, x1)) {
    parts.push(`<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${m.t + H}" y2="${m.t + H + 4}" stroke="#555"/>`);
    parts.push(`<text x="${sx(t).toFixed(1)}" y="${m.t + H + 16}" text-anchor="middle" fill="#555">${t}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W}" height="${H}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${m.l + W / 2}" y="${height - 4}" text-anchor="middle" fill="#333">step</text>`);
  curves.forEach((c, i) => {
    const color = COLORS[i % COLORS.length];
    const d = c.points.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    const last = c.points[c.points.length - 1];
    parts.push(`<text x="${m.l + W - 4}" y="${m.t + 14 + 14 * i}" text-anchor="end" fill="${color}">${esc(c.term)} (last ${+last[1].toPrecision(3)})</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** A grouped bar chart of zero-shot top-1 per model and language, with chance (10%) marked. */
export function accuracyChartSvg(rows: StageScores[], chance: number, width = 460, height = 260): string {
  const m = { l: 44, r: 12, t: 28, b: 40 };
  const W = width - m.l - m.r;
  const H = height - m.t - m.b;
  const sy = (y: number) => m.t + H - y * H;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`];
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(`<text x="${m.l}" y="17" font-size="13" font-weight="bold">Zero-shot top-1 on the Fashion-MNIST test split</text>`);
  for (const t of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    parts.push(`<line x1="${m.l}" x2="${m.l + W}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/><text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end" fill="#555">${t * 100}%</text>`);
  }
  const group = W / Math.max(rows.length, 1);
  const bar = Math.min(40, group / 3);
  rows.forEach((r, i) => {
    const cx = m.l + group * i + group / 2;
    (['en', 'zh'] as const).forEach((lang, j) => {
      const v = r.zeroShot[lang];
      const x = cx - bar + j * bar;
      const color = lang === 'en' ? '#1f77b4' : '#d62728';
      parts.push(`<rect x="${x.toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(bar - 2).toFixed(1)}" height="${(H - (sy(v) - m.t)).toFixed(1)}" fill="${color}"/>`);
      parts.push(`<text x="${(x + bar / 2 - 1).toFixed(1)}" y="${(sy(v) - 3).toFixed(1)}" text-anchor="middle" fill="#333">${pct(v)}</text>`);
    });
    parts.push(`<text x="${cx.toFixed(1)}" y="${m.t + H + 16}" text-anchor="middle" fill="#333">${esc(r.model)}</text>`);
  });
  parts.push(`<line x1="${m.l}" x2="${m.l + W}" y1="${sy(chance)}" y2="${sy(chance)}" stroke="#888" stroke-dasharray="4 3"/><text x="${m.l + W - 2}" y="${sy(chance) - 3}" text-anchor="end" fill="#888">chance</text>`);
  parts.push(`<rect x="${m.l + 4}" y="${height - 14}" width="10" height="10" fill="#1f77b4"/><text x="${m.l + 18}" y="${height - 5}">English</text>`);
  parts.push(`<rect x="${m.l + 74}" y="${height - 14}" width="10" height="10" fill="#d62728"/><text x="${m.l + 88}" y="${height - 5}">Chinese</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

export interface ReportInput {
  title: string;
  rows: StageScores[];
  curves: Array<{ stage: string; curves: LossCurve[] }>;
  /** Key/value facts shown under the title (data source, wall time, settings). */
  facts: Array<[string, string]>;
  /** Example captions shown in the report, per language. */
  examples?: Array<{ en: string; zh: string }>;
}

export function reportHtml(input: ReportInput): string {
  const cell = (s: string) => `<td>${esc(s)}</td>`;
  const rows = input.rows
    .map((r) => `<tr><th>${esc(r.model)}</th>${[pct(r.zeroShot.en), pct(r.zeroShot.zh)].map(cell).join('')}` +
      (['en', 'zh'] as const).map((l) => [...r.retrieval[l].t2i, ...r.retrieval[l].i2t, r.retrieval[l].mr].map((v) => cell(pct(v))).join('')).join('') + '</tr>')
    .join('\n');
  const charts = input.curves.map((c) => `<figure>${lossChartSvg(c.stage, c.curves)}</figure>`).join('\n');
  const examples = (input.examples ?? []).map((e) => `<tr><td>${esc(e.en)}</td><td>${esc(e.zh)}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}
.wide{overflow-x:auto}table{border-collapse:collapse;margin:12px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f4f4f4;white-space:nowrap}thead th{text-align:center}tbody th{text-align:left}figure{display:inline-block;margin:6px}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}
dt{font-weight:600}.ex td{text-align:left}
</style></head><body>
<h1>${esc(input.title)}</h1>
<dl>${input.facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
<h2>Results (zero-shot, held-out templates; %)</h2>
<div class="wide"><table>
<thead><tr><th rowspan="2">model</th><th colspan="2">zero-shot top-1</th><th colspan="7">English retrieval</th><th colspan="7">Chinese retrieval</th></tr>
<tr><th>EN</th><th>ZH</th><th>T→I R@1</th><th>R@5</th><th>R@10</th><th>I→T R@1</th><th>R@5</th><th>R@10</th><th>MR</th><th>T→I R@1</th><th>R@5</th><th>R@10</th><th>I→T R@1</th><th>R@5</th><th>R@10</th><th>MR</th></tr></thead>
<tbody>
${rows}
</tbody></table></div>
<figure>${accuracyChartSvg(input.rows, 0.1)}</figure>
<h2>Training loss</h2>
${charts}
${examples ? `<h2>Example captions (held-out templates)</h2><table class="ex"><tr><th>English</th><th>Chinese</th></tr>${examples}</table>` : ''}
</body></html>
`;
}
