/**
 * Stage 1 at scale: peak RSS of `distill` with the demo's teacher (clip-demo-tiny, 64-d pooled features) and student
 * on generated parallel corpora of 2M and 10M lines (the demo's caption vocabulary), the corpus streamed. Each size
 * runs in two processes, each with its own peak RSS: computing the sharded teacher cache cold (--cache-teacher-only),
 * then training --steps 10 on it. Target: <= 1 GiB for both sizes and within 10% of each other. With --memory, the
 * in-memory path (corpus and features read whole, what stage 1 did before) runs at the first size as the reference.
 *
 *   npm run bench -- stage1-scale [--lines 2000000,10000000] [--steps 10] [--dir DIR] [--memory] [--dtype f32|f16]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { mulberry32 } from '@altclip/backend';
import { FASHION_MNIST_CLASSNAMES_EN, FASHION_MNIST_CLASSNAMES_ZH } from '@altclip/eval';
import { CLIPModel, getModelConfig } from '@altclip/models';
import { CLIPTokenizer } from '@altclip/tokenizers';
import { runDistill } from '@altclip/train';

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

const REPO = path.resolve(__dirname, '..', '..');
/**
 * A corpus of `lines` EN<TAB>ZH caption pairs drawn (seeded) from the demo's vocabulary: its templates, tone words
 * and class names (datasets/demo-captions, @altclip/eval), translated by index, so texts repeat as in the demo's
 * parallel corpus copied to scale. Written once and kept.
 */
function corpus(dir: string, lines: number): string {
  const f = path.join(dir, `corpus-${lines}.tsv`);
  if (fs.existsSync(f)) return f;
  const spec = JSON.parse(fs.readFileSync(path.join(REPO, 'datasets', 'demo-captions', 'captions.json'), 'utf8'));
  const r = mulberry32(lines);
  const fd = fs.openSync(`${f}.tmp`, 'w');
  let buf: string[] = [];
  const pick = (n: number) => Math.floor(r() * n);
  for (let i = 0; i < lines; i++) {
    const [t, c, tone] = [pick(spec.templates.en.length), pick(FASHION_MNIST_CLASSNAMES_EN.length), pick(spec.tones.en.length + 1)];
    const en = spec.templates.en[t].replace('{c}', tone < spec.tones.en.length ? `${spec.tones.en[tone]} ${FASHION_MNIST_CLASSNAMES_EN[c]}` : FASHION_MNIST_CLASSNAMES_EN[c]);
    const zh = spec.templates.zh[t].replace('{c}', tone < spec.tones.zh.length ? `${spec.tones.zh[tone]}${FASHION_MNIST_CLASSNAMES_ZH[c]}` : FASHION_MNIST_CLASSNAMES_ZH[c]);
    buf.push(`${en}\t${zh}`);
    if (buf.length === 100000) {
      fs.writeSync(fd, buf.join('\n') + '\n');
      buf = [];
    }
  }
  if (buf.length) fs.writeSync(fd, buf.join('\n') + '\n');
  fs.closeSync(fd);
  fs.renameSync(`${f}.tmp`, f);
  return f;
}

/** The demo's models: a clip-demo-tiny teacher (weights random: RSS does not depend on them) and the stage-1 student config. */
async function models(dir: string): Promise<{ teacher: string; student: string }> {
  const teacher = path.join(dir, 'teacher');
  if (!fs.existsSync(path.join(teacher, 'config.json'))) {
    const m = new CLIPModel(getModelConfig('clip-demo-tiny') as never, { seed: 0 });
    await m.save(teacher);
    m.dispose();
  }
  const t = getModelConfig('clip-demo-tiny') as unknown as { text_config: { hidden_size: number }; vision_config: Record<string, unknown>; projection_dim: number };
  const student = path.join(dir, 'student-config.json');
  fs.writeFileSync(student, JSON.stringify({
    model_type: 'altclip', architectures: ['AltCLIPModel'], projection_dim: t.projection_dim, logit_scale_init_value: 2.6592,
    text_config: {
      model_type: 'altclip_text_model', vocab_size: 1000, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 256,
      max_position_embeddings: 80, type_vocab_size: 1, project_dim: t.text_config.hidden_size, hidden_act: 'gelu', hidden_dropout_prob: 0.1,
      attention_probs_dropout_prob: 0.1, layer_norm_eps: 1e-5, pad_token_id: 1, bos_token_id: 0, eos_token_id: 2,
    },
    vision_config: { ...t.vision_config, model_type: 'altclip_vision_model' },
  }));
  return { teacher, student };
}

async function child(): Promise<void> {
  await setupBackend();
  const dir = arg('dir')!;
  const lines = Number(arg('lines'));
  const { teacher, student } = await models(dir);
  const logs: string[] = [];
  const t0 = Date.now();
  const r = await runDistill({
    teacher, student, tokenizer: path.join(REPO, 'datasets', 'demo-spm'), teacherTokenizer: await CLIPTokenizer.load(), data: corpus(dir, lines),
    datasetType: arg('mode') === 'memory' ? 'memory' : 'stream', teacherCacheDtype: arg('dtype') === 'f16' ? 'f16' : 'f32',
    cacheTeacherOnly: arg('phase') === 'cache', cacheDir: arg('cache')!, out: path.join(dir, `run-${lines}-${arg('mode')}-${process.pid}`), steps: Number(arg('steps', '10')),
    batchSize: 64, lr: 1e-3, warmup: 1, progress: false, log: (l) => logs.push(l),
  });
  const bpp = logs.map((l) => /(\d+) bytes per pair/.exec(l)).find(Boolean);
  const out = { lines, mode: arg('mode'), phase: arg('phase'), status: r.status, steps: r.records.length, peakRssMiB: process.resourceUsage().maxRSS / 1024, bytesPerPair: bpp ? Number(bpp[1]) : null, seconds: (Date.now() - t0) / 1000, cache: r.teacherCache };
  fs.rmSync(r.runDir, { recursive: true, force: true });
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
}

interface ChildResult {
  peakRssMiB: number;
  bytesPerPair: number | null;
  seconds: number;
  cache: string;
}

/** One process: phase 'cache' computes the teacher cache into `cache` (cold) and stops; 'train' runs the steps on it. */
function runChild(dir: string, lines: number, mode: string, phase: 'cache' | 'train', cache: string): ChildResult {
  const args = [__filename, '--child', '--dir', dir, '--lines', String(lines), '--mode', mode, '--phase', phase, '--cache', cache, '--steps', arg('steps', '10')!, '--dtype', arg('dtype', 'f32')!];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`stage-1 run (${lines} lines, ${mode}) failed:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-4000)}`);
  return JSON.parse(line.slice(7));
}

async function main(): Promise<void> {
  const dir = arg('dir', path.join(os.tmpdir(), 'altclip-stage1-scale'))!;
  fs.mkdirSync(dir, { recursive: true });
  const sizes = arg('lines', '2000000,10000000')!.split(',').map(Number);
  console.log(`stage1-scale: demo teacher (clip-demo-tiny), corpora of ${sizes.join(' and ')} lines in ${dir}, --steps ${arg('steps', '10')}, cache ${arg('dtype', 'f32')}`);
  for (const n of sizes) {
    const t0 = Date.now();
    corpus(dir, n);
    console.log(`  corpus ${n} lines: ${(fs.statSync(path.join(dir, `corpus-${n}.tsv`)).size / 2 ** 20).toFixed(0)} MiB (${((Date.now() - t0) / 1000).toFixed(0)} s to generate or find)`);
  }
  // Each size computes its own cache (cold) in one process, then trains on it in another: each phase's peak RSS.
  const rows: { n: number; mode: string; cache: ChildResult; train: ChildResult }[] = [];
  const run = (n: number, mode: string) => {
    const cacheDir = path.join(dir, `cache-${n}-${mode}`);
    fs.rmSync(cacheDir, { recursive: true, force: true });
    const cache = runChild(dir, n, mode, 'cache', cacheDir);
    const train = runChild(dir, n, mode, 'train', cacheDir);
    fs.rmSync(cacheDir, { recursive: true, force: true });
    rows.push({ n, mode, cache, train });
  };
  if (process.argv.includes('--memory')) run(sizes[0], 'memory');
  for (const n of sizes) run(n, 'stream');
  for (const { n, mode, cache, train } of rows)
    console.log(
      `  ${String(n).padStart(9)} lines, ${mode.padEnd(6)}: peak RSS computing the cache ${cache.peakRssMiB.toFixed(0)} MiB (${cache.seconds.toFixed(0)} s), ` +
        `training ${arg('steps', '10')} steps ${train.peakRssMiB.toFixed(0)} MiB (${train.seconds.toFixed(0)} s); cache ${train.bytesPerPair ?? '?'} bytes per pair`,
    );
  const streamed = rows.filter((x) => x.mode === 'stream');
  for (const phase of ['cache', 'train'] as const) {
    const peaks = streamed.map((x) => x[phase].peakRssMiB);
    const spread = (Math.max(...peaks) - Math.min(...peaks)) / Math.min(...peaks);
    console.log(`  streamed, ${phase === 'cache' ? 'computing the cache' : 'training'}: max peak RSS ${Math.max(...peaks).toFixed(0)} MiB (target <= 1024: ${Math.max(...peaks) <= 1024 ? 'met' : 'NOT met'}), spread ${(spread * 100).toFixed(1)}% (target <= 10%: ${spread <= 0.1 ? 'met' : 'NOT met'})`);
  }
}

(process.argv.includes('--child') ? child() : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
