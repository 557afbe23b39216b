import * as fs from 'fs';
import * as path from 'path';
import { chartRow, Curve, esc, factsHtml, fmtNumber, htmlPage, lineChartSvg, metricCurves, readMetricsRecords } from './charts';

/** What `altclip report` reads from a run folder. */
export interface RunData {
  dir: string;
  config?: Record<string, any>;
  /** Per-step records of metrics.jsonl (loss, terms, lr, ...). */
  steps: Array<Record<string, unknown>>;
  /** Evaluations during training: metrics.jsonl records with an `eval` object. */
  evals: Array<Record<string, unknown>>;
  /** `altclip eval --out <run>/<name>.json` results found in the folder: file name -> numeric metrics. */
  results: Array<{ file: string; dataset?: string; metrics: Record<string, number> }>;
  latestCheckpoint?: string;
  hasFinal: boolean;
}

function readJson(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`report: cannot read ${file}: ${(e as Error).message}`);
  }
}

export function readRunData(dir: string): RunData {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`report: run folder ${dir} not found`);
  const cfgFile = path.join(dir, 'config.json');
  const metricsFile = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(cfgFile) && !fs.existsSync(metricsFile)) {
    const runs = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'metrics.jsonl')));
    throw new Error(`report: ${dir} has neither config.json nor metrics.jsonl, so it is not a training run folder` + (runs.length ? `; run folders inside it: ${runs.join(', ')}` : ''));
  }
  const records = readMetricsRecords(metricsFile);
  const results: RunData['results'] = [];
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'config.json').sort()) {
    let j: any;
    try {
      j = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    } catch {
      continue; // not ours to judge: only eval result files are shown
    }
    const m = j?.metrics;
    if (!m || typeof m !== 'object') continue;
    const metrics = Object.fromEntries(Object.entries(m).filter((e): e is [string, number] => typeof e[1] === 'number'));
    if (Object.keys(metrics).length) results.push({ file: f, dataset: typeof j.dataset === 'string' ? j.dataset : undefined, metrics });
  }
  const latest = path.join(dir, 'checkpoints', 'latest');
  return {
    dir,
    config: fs.existsSync(cfgFile) ? readJson(cfgFile) : undefined,
    steps: records.filter((r) => !r.eval),
    evals: records.filter((r) => r.eval && typeof r.eval === 'object'),
    results,
    latestCheckpoint: fs.existsSync(latest) ? fs.readFileSync(latest, 'utf8').trim() : undefined,
    hasFinal: fs.existsSync(path.join(dir, 'final')),
  };
}

const isLossLike = (term: string) => /loss|mse/i.test(term);

/** What the trainer logs about the process rather than the model (tfjs tensor count, resident memory). */
export const SYSTEM_METRICS = ['num_tensors', 'rss_mib'];

function summaryRows(curves: Curve[]): string {
  return curves
    .map((c) => {
      const ys = c.points.map((p) => p[1]);
      const last = c.points[c.points.length - 1];
      // Break points after / and _ so long names (eval/zeroshot_mean_per_class_recall) fit a phone.
      return `<tr><th>${esc(c.term).replace(/([/_])/g, '$1<wbr>')}</th><td>${fmtNumber(last[1])}</td><td>${last[0]}</td><td>${fmtNumber(Math.min(...ys))}</td><td>${fmtNumber(Math.max(...ys))}</td></tr>`;
    })
    .join('\n');
}

function facts(d: RunData): Array<[string, string]> {
  const c = d.config ?? {};
  const t = c.train ?? c;
  const lastStep = d.steps.length ? (d.steps[d.steps.length - 1].step as number) : undefined;
  const out: Array<[string, string]> = [['run folder', path.resolve(d.dir)]];
  if (c.stage) out.push(['stage', String(c.stage)]);
  for (const k of ['model', 'teacher', 'student', 'data', 'dataset']) if (typeof c[k] === 'string') out.push([k, c[k]]);
  const planned = t.steps !== undefined ? `${t.steps} steps` : t.epochs !== undefined ? `${t.epochs} epochs` : undefined;
  out.push(['progress', `${lastStep !== undefined ? `last logged step ${lastStep}` : 'no step logged'}${planned ? ` of ${planned}` : ''}${d.hasFinal ? ', finished (final/ written)' : ''}`]);
  if (t.batchSize !== undefined) out.push(['optimisation', `batch ${t.batchSize}${t.accumSteps > 1 ? ` (${t.accumSteps} micro-batches)` : ''}, lr ${t.lr} (${t.schedule ?? 'cosine'}, warmup ${t.warmup ?? 0}), weight decay ${t.weightDecay ?? '-'}, seed ${t.seed ?? 0}`]);
  if (d.latestCheckpoint) out.push(['latest checkpoint', d.latestCheckpoint]);
  if (!d.config) out.push(['config', 'config.json missing']);
  return out;
}

/** The HTML report of one run folder: facts, last values, one chart per logged metric, evaluations, the config. */
export function runReportHtml(d: RunData): string {
  const title = `Training run ${path.basename(path.resolve(d.dir))}`;
  const logged = metricCurves(d.steps, 'train', ['step', 'epoch']);
  const train = logged.filter((c) => !SYSTEM_METRICS.includes(c.term));
  const system = logged.filter((c) => SYSTEM_METRICS.includes(c.term));
  const evals = metricCurves(d.evals.map((r) => ({ step: r.step, ...(r.eval as object) })), 'eval').map((c) => ({ ...c, term: `eval/${c.term}` }));
  const chart = (c: Curve) => lineChartSvg(c.term, [c], { zeroBased: isLossLike(c.term) });
  const body: string[] = [`<h1>${esc(title)}</h1>`, factsHtml(facts(d))];
  const all = [...train, ...evals, ...system];
  if (all.length) {
    body.push('<h2>Last values</h2>');
    body.push(`<div class="wide"><table><thead><tr><th>metric</th><th>last</th><th>at step</th><th>min</th><th>max</th></tr></thead><tbody>\n${summaryRows(all)}\n</tbody></table></div>`);
  } else body.push('<p>metrics.jsonl holds no records yet.</p>');
  if (train.length) body.push('<h2>Training</h2>', chartRow(train.map(chart)));
  if (evals.length) body.push('<h2>Evaluation during training</h2>', chartRow(evals.map(chart)));
  if (system.length) body.push('<h2>System</h2>', '<p>The process, not the model: live TensorFlow.js tensors (steady when nothing leaks) and resident memory in MiB.</p>', chartRow(system.map(chart)));
  if (d.results.length) {
    body.push('<h2>Evaluation results</h2>');
    for (const r of d.results) {
      const rows = Object.entries(r.metrics).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${fmtNumber(v)}</td></tr>`).join('');
      body.push(`<h3>${esc(r.file)}${r.dataset ? ` (${esc(r.dataset)})` : ''}</h3><div class="wide"><table>${rows}</table></div>`);
    }
  }
  if (d.config) body.push('<h2>Configuration</h2>', `<pre>${esc(JSON.stringify(d.config, null, 2))}</pre>`);
  return htmlPage(title, body.join('\n'));
}
