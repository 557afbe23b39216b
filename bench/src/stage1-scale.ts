/**
 * Stage 1 at scale: peak RSS of `distill` with the demo's teacher (clip-demo-tiny, 64-d pooled features) and student
 * on generated parallel corpora of 2M and 10M lines (the demo's caption vocabulary), --steps 10, the corpus streamed and the teacher features in the
 * sharded cache (computed in the same run). Each size runs in its own process (its own peak RSS); the target is
 * <= 1 GiB for both and within 10% of each other. With --memory, the in-memory path (the corpus and all features
 * read whole, what stage 1 did before) runs at the first size as the reference.
 *
 *   npm run bench -- stage1-scale [--lines 2000000,10000000] [--steps 10] [--dir DIR] [--memory] [--dtype f32|f16]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { mulberry32 } from '@altclip/data';
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
    cacheDir: path.join(dir, 'cache'), out: path.join(dir, `run-${lines}-${arg('mode')}-${process.pid}`), steps: Number(arg('steps', '10')),
    batchSize: 64, lr: 1e-3, warmup: 1, progress: false, log: (l) => logs.push(l),
  });
  const bpp = logs.map((l) => /(\d+) bytes per pair/.exec(l)).find(Boolean);
  const out = { lines, mode: arg('mode'), status: r.status, steps: r.records.length, peakRssMiB: process.resourceUsage().maxRSS / 1024, bytesPerPair: bpp ? Number(bpp[1]) : null, seconds: (Date.now() - t0) / 1000, cache: r.teacherCache };
  fs.rmSync(r.runDir, { recursive: true, force: true });
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
}

function runChild(dir: string, lines: number, mode: string): { peakRssMiB: number; bytesPerPair: number | null; seconds: number; cache: string } {
  const args = [__filename, '--child', '--dir', dir, '--lines', String(lines), '--mode', mode, '--steps', arg('steps', '10')!, '--dtype', arg('dtype', 'f32')!];
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
  const rows: { n: number; mode: string; r: ReturnType<typeof runChild> }[] = [];
  if (process.argv.includes('--memory')) rows.push({ n: sizes[0], mode: 'memory', r: runChild(dir, sizes[0], 'memory') });
  for (const n of sizes) rows.push({ n, mode: 'stream', r: runChild(dir, n, 'stream') });
  for (const { n, mode, r } of rows)
    console.log(`  ${String(n).padStart(9)} lines, ${mode.padEnd(6)}: peak RSS ${r.peakRssMiB.toFixed(0)} MiB, ${r.seconds.toFixed(0)} s (cache + ${arg('steps', '10')} steps), cache ${r.bytesPerPair ?? '?'} bytes per pair`);
  const streamed = rows.filter((x) => x.mode === 'stream').map((x) => x.r.peakRssMiB);
  const spread = (Math.max(...streamed) - Math.min(...streamed)) / Math.min(...streamed);
  console.log(`  streamed: max peak RSS ${Math.max(...streamed).toFixed(0)} MiB (target <= 1024: ${Math.max(...streamed) <= 1024 ? 'met' : 'NOT met'}), spread ${(spread * 100).toFixed(1)}% (target <= 10%: ${spread <= 0.1 ? 'met' : 'NOT met'})`);
}

(process.argv.includes('--child') ? child() : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
