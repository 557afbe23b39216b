import { chartRow, Curve, esc, factsHtml, htmlPage, lineChartSvg, svgOpen } from '../report/charts';

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

/** A grouped bar chart of zero-shot top-1 per model and language, with chance (10%) marked. */
export function accuracyChartSvg(rows: StageScores[], chance: number, width = 460, height = 260): string {
  const m = { l: 44, r: 12, t: 28, b: 40 };
  const W = width - m.l - m.r;
  const H = height - m.t - m.b;
  const sy = (y: number) => m.t + H - y * H;
  const parts = [svgOpen(width, height, 'Zero-shot top-1')];
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
  // The chance line is named in the legend: a label on the line itself ends up behind a bar at some widths.
  const dash = 'stroke="#888" stroke-dasharray="4 3"';
  parts.push(`<line x1="${m.l}" x2="${m.l + W}" y1="${sy(chance)}" y2="${sy(chance)}" ${dash}/>`);
  parts.push(`<rect x="${m.l + 4}" y="${height - 14}" width="10" height="10" fill="#1f77b4"/><text x="${m.l + 18}" y="${height - 5}">English</text>`);
  parts.push(`<rect x="${m.l + 74}" y="${height - 14}" width="10" height="10" fill="#d62728"/><text x="${m.l + 88}" y="${height - 5}">Chinese</text>`);
  parts.push(`<line x1="${m.l + 144}" x2="${m.l + 164}" y1="${height - 9}" y2="${height - 9}" ${dash}/><text x="${m.l + 168}" y="${height - 5}" fill="#555">chance (${pct(chance)}%)</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

export interface ReportInput {
  title: string;
  rows: StageScores[];
  curves: Array<{ stage: string; curves: Curve[] }>;
  /** Key/value facts shown under the title (data source, wall time, settings). */
  facts: Array<[string, string]>;
  /** Example captions shown in the report, per language. */
  examples?: Array<{ en: string; zh: string }>;
  /** Commands that redo a stage or a table row by hand (the demo is a script over them). */
  commands?: Array<{ label: string; command: string }>;
}

/**
 * A command line as code that a narrow screen wraps only between flags: each "--flag value" stays on one line,
 * never hyphenated or broken at the hyphens inside flags and paths (copying it gives the command unchanged).
 */
export function commandHtml(command: string): string {
  return `<code class="cmd">${command.split(/ (?=--)/).map((part) => `<span>${esc(part)}</span>`).join(' ')}</code>`;
}

const PLURAL = /^[a-z-]*[^su\s]s$/i;
const NOUN_PHRASE = /\b(an?) ([^.,!?;]*?)(?=[.,!?;]|\s(?:on|in|of|with|at|from|against|by)\b|$)/gi;

/**
 * English article agreement in captions built as "a {c}": "a ankle boot" -> "an ankle boot", and no article
 * before a plural noun ("an image of a trousers." -> "an image of trousers."; a phrase's last word decides).
 */
export function agreeArticles(text: string): string {
  const capital = (w: string) => w[0].toUpperCase() + w.slice(1);
  return text.replace(NOUN_PHRASE, (_match, article: string, phrase: string) => {
    const upper = article[0] === 'A';
    const words = phrase.split(' ');
    if (PLURAL.test(words[words.length - 1])) return upper ? capital(phrase) : phrase;
    const an = /^[aeiou]/i.test(phrase) ? 'an' : 'a';
    return `${upper ? capital(an) : an} ${phrase}`;
  });
}

export function reportHtml(input: ReportInput): string {
  const cell = (s: string) => `<td>${esc(s)}</td>`;
  const rows = input.rows
    .map((r) => `<tr><th>${esc(r.model)}</th>${[pct(r.zeroShot.en), pct(r.zeroShot.zh)].map(cell).join('')}` +
      (['en', 'zh'] as const).map((l) => [...r.retrieval[l].t2i, ...r.retrieval[l].i2t, r.retrieval[l].mr].map((v) => cell(pct(v))).join('')).join('') + '</tr>')
    .join('\n');
  const charts = chartRow(input.curves.map((c) => lineChartSvg(c.stage, c.curves)));
  const examples = (input.examples ?? []).map((e) => `<tr><td>${esc(agreeArticles(e.en))}</td><td>${esc(e.zh)}</td></tr>`).join('\n');
  const commands = (input.commands ?? []).map((c) => `<dt>${esc(c.label)}</dt><dd>${commandHtml(c.command)}</dd>`).join('');
  return htmlPage(
    input.title,
    `<h1>${esc(input.title)}</h1>
${factsHtml(input.facts)}
<h2>Results (zero-shot, held-out templates; %)</h2>
<div class="wide"><table>
<thead><tr><th rowspan="2">model</th><th colspan="2">zero-shot top-1</th><th colspan="7">English retrieval</th><th colspan="7">Chinese retrieval</th></tr>
<tr><th>EN</th><th>ZH</th><th>T→I R@1</th><th>R@5</th><th>R@10</th><th>I→T R@1</th><th>R@5</th><th>R@10</th><th>MR</th><th>T→I R@1</th><th>R@5</th><th>R@10</th><th>I→T R@1</th><th>R@5</th><th>R@10</th><th>MR</th></tr></thead>
<tbody>
${rows}
</tbody></table></div>
${chartRow([accuracyChartSvg(input.rows, 0.1)])}
<h2>Training loss</h2>
${charts}
${examples ? `<h2>Example captions (held-out templates)</h2><div class="wide"><table class="ex"><tr><th>English</th><th>Chinese</th></tr>${examples}</table></div>` : ''}
${commands ? `<h2>By hand</h2><dl class="cmds">${commands}</dl>` : ''}`,
  );
}
