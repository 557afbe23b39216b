/**
 * Data-parallel training over MPI (issue 19), measured against what a user runs on one machine today:
 *  - bert:     the bert-train shape (4-layer BERT-base post-LN encoder, 768/12/3072, global batch 8 x seq 64,
 *              AdamW) through train(): 2 ranks x 1 thread (mpirun) against 1 rank x 2 threads (plain node);
 *  - altclip:  the largest AltCLIP stage whose two ranks fit in 24 GiB: stage 2 (contrastive CLIP loss) of AltCLIP-L
 *              with the image tower locked in bf16 and --freeze-embeddings (XLM-R-large without its word/position
 *              embeddings trains), --shard-optimizer on the 2 ranks, on 16 synthetic JPEGs with captions, through
 *              the pieces `altclip contrastive` uses (the 1-rank run keeps the whole AdamW state);
 *  - allreduce: the binding's allreduce against an osu_allreduce-style C loop (bench/c/allreduce-loop.c, built
 *              with mpicc) on the same buffer sizes, and the bandwidth the training runs reached;
 *  - paper:    the step time of AltCLIP-L on 1-64 machines from a per-sample compute time and the gradient volume,
 *              with a ring allreduce on 10/25/100 Gbit links at the measured binding/raw-MPI efficiency (markdown
 *              tables: fine-tuning every parameter from --sample-seconds/--grad-gb, and stage 2 from the altclip case).
 * The baseline and the 2-rank run alternate for --rounds rounds; medians are printed, with the ratio.
 *
 *   npm run bench -- data-parallel [--case bert,allreduce,altclip,paper|all] [--steps 5] [--warmup 2] [--rounds 2]
 *                                   [--altclip-batch 16] [--dir /tmp/altclip-large-random] [--images DIR] [--overlap 0|1] [--bind core|none]
 *                                   [--sample-seconds 3.75] [--grad-gb 3.46] [--efficiency 1]   (paper)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { loadImage } from '@altclip/image';
import { datasetLoader } from '@altclip/data';
import { loadModelBundle, textMaxLength } from '@altclip/models';
import { loadMpiAddon, mpiUnavailableReason, worldCollective } from '@altclip/mpi';
import { clipBatchSource, clipParams, FEATURE_CHUNK, clipTask, createDataParallel, FeatureTask, train, TrainResult, TrainSettings } from '@altclip/train';
import { encoderBatch, EncoderDims, encoderForward, initEncoderParams } from './_shared-encoder';
import { generateJpegs } from './_jpegs';
import { ensureModel, REPO } from './_large-model';

interface Opts {
  cases: string[];
  steps: number;
  warmup: number;
  rounds: number;
  altclipBatch: number;
  dir: string;
  /** Folder of the JPEGs the altclip case trains on (written by the parent, read by the ranks). */
  images: string;
  /** undefined: the library's default. */
  overlap?: boolean;
  sampleSeconds: number;
  gradGB: number;
  /** mpirun's --bind-to for the 2-rank runs (core: one core per rank, as mpirun does by default for 2 ranks). */
  bind: string;
  /** --case paper alone: the allreduce's fraction of the link rate (a run with allreduce measures it). */
  efficiency: number;
}

function parse(argv: string[]): Opts & { worker?: string; sizes: number[] } {
  const o = { cases: ['bert', 'allreduce', 'altclip', 'paper'], steps: 5, warmup: 2, rounds: 2, altclipBatch: 16, dir: path.join(os.tmpdir(), 'altclip-large-random'), images: '', overlap: undefined as boolean | undefined, sampleSeconds: 3.75, gradGB: 3.46, bind: 'core', efficiency: 1, worker: undefined as string | undefined, sizes: [] as number[] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--case') o.cases = v() === 'all' ? o.cases : argv[i].split(',');
    else if (a === '--steps') o.steps = Number(v());
    else if (a === '--warmup') o.warmup = Number(v());
    else if (a === '--rounds') o.rounds = Number(v());
    else if (a === '--altclip-batch') o.altclipBatch = Number(v());
    else if (a === '--dir') o.dir = v();
    else if (a === '--images') o.images = v();
    else if (a === '--overlap') o.overlap = v() !== '0';
    else if (a === '--sample-seconds') o.sampleSeconds = Number(v());
    else if (a === '--grad-gb') o.gradGB = Number(v());
    else if (a === '--efficiency') o.efficiency = Number(v());
    else if (a === '--bind') o.bind = v();
    else if (a === '--worker') o.worker = v();
    else if (a === '--sizes') o.sizes = v().split(',').map(Number);
    else if (a === '--help' || a === '-h') {
      console.log('see the comment at the top of bench/src/data-parallel.ts');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}' (see --help)`);
  }
  for (const k of ['steps', 'rounds', 'altclipBatch'] as const) if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive integer`);
  if (!['core', 'none', 'socket'].includes(o.bind)) throw new Error(`--bind must be core, socket or none, got '${o.bind}'`);
  return o;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const SIZES = [1 << 20, 4 << 20, 25 << 20, 100 << 20];

/** Step seconds of the timed steps (after warm-up) from train()'s records. */
function stepSeconds(r: TrainResult, batch: number, warmup: number): number[] {
  return r.records.slice(warmup).map((x) => batch / x.samples_per_s);
}

/** The bert-train shape as a FeatureTask: mean-pooled encoder output against a fixed target (MSE, row-wise). */
async function bertWorker(o: Opts): Promise<Record<string, number>> {
  const B = 8;
  const dims: EncoderDims = { layers: 4, hidden: 768, heads: 12, ffn: 3072, batch: B, seq: 64, vocab: 8192 };
  const params = initEncoderParams(dims);
  const { ids, mask } = encoderBatch(dims);
  const target = tf.tidy(() => tf.randomNormal([B, dims.hidden], 0, 1, 'float32', 99).dataSync() as Float32Array);
  type Batch = { ids: tf.Tensor1D; mask: tf.Tensor; target: tf.Tensor2D; rows: number };
  const task: FeatureTask<Batch> = {
    features: (b) => {
      const d = { ...dims, batch: b.rows };
      const bias = tf.reshape(tf.mul(tf.sub(1, tf.cast(b.mask, 'float32')), -1e9), [b.rows, 1, 1, dims.seq]);
      const pool = tf.reshape(tf.cast(b.mask, 'float32'), [b.rows, dims.seq, 1]);
      return [encoderForward(params, d, b.ids, bias, pool), tf.clone(b.target)];
    },
    constantFeatures: [1],
    rowwise: true,
    rows: (b) => b.rows,
    loss: ([y, t]) => ({ loss: tf.mean(tf.squaredDifference(y, t)) as tf.Scalar }),
  };
  const S = dims.seq;
  const data = {
    size: 64,
    batch: (idx: number[]): Batch => {
      const rows = idx.map((i) => i % B);
      const pick = (a: Int32Array) => Int32Array.from(rows.flatMap((r) => Array.from(a.subarray(r * S, (r + 1) * S))));
      return {
        ids: tf.tensor1d(pick(ids), 'int32'),
        mask: tf.tensor2d(pick(mask), [rows.length, S], 'int32'),
        target: tf.tensor2d(Float32Array.from(rows.flatMap((r) => Array.from(target.subarray(r * dims.hidden, (r + 1) * dims.hidden)))), [rows.length, dims.hidden]),
        rows: rows.length,
      };
    },
  };
  const config: TrainSettings = { seed: 0, batchSize: B, steps: o.warmup + o.steps, lr: 1e-4, schedule: 'constant', warmup: 0, weightDecay: 0.01, gradClip: 0, logEvery: 1, shuffle: false };
  const r = await train({ task, params, data, config, progress: false, log: () => undefined, parallel: createDataParallel({ overlap: o.overlap }) });
  const s = stepSeconds(r, B, o.warmup);
  return { samplesPerS: B / median(s), msPerStep: median(s) * 1000, gradMB: ([...params.values()].reduce((a, v) => a + v.size, 0) * 4) / 2 ** 20 };
}

/**
 * Stage 2 of AltCLIP-L (see the file comment) through the pieces `altclip contrastive` uses (stages/contrastive.ts),
 * without its final model write: pairs of the 16 JPEGs in `images` with one caption each.
 */
async function altclipWorker(o: Opts): Promise<Record<string, number>> {
  const B = o.altclipBatch;
  const files = fs.readdirSync(o.images).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(o.images, f));
  const bundle = await loadModelBundle(o.dir, { seed: 0 });
  const { model, tokenizer, processor } = bundle;
  try {
    const { params, imageFrozen } = clipParams({ lockImage: true, freezeEmbeddings: true, frozenDtype: 'bf16' }, model, () => undefined);
    const data = clipBatchSource({
      size: files.length, caption: (i) => `a photo of thing number ${i}, in a field.`, loader: datasetLoader({ getImage: (i) => loadImage(files[i]), imagePath: (i) => files[i] }, processor),
      tokenizer, maxLength: textMaxLength(model.config), model, imageFrozen, featureChunk: FEATURE_CHUNK, // as the contrastive stage
    });
    const config: TrainSettings = { seed: 0, batchSize: B, steps: o.warmup + o.steps, lr: 1e-5, schedule: 'constant', warmup: 0, weightDecay: 0.05, gradClip: 5, logEvery: 1, shuffle: false };
    const dp = createDataParallel({ shardOptimizer: true, overlap: o.overlap });
    const r = await train({ task: clipTask(model, { imageFrozen }), params, data, config, progress: false, log: () => undefined, parallel: dp });
    const s = stepSeconds(r, B, o.warmup);
    const trainable = [...params.values()].reduce((n, v) => n + v.size, 0);
    return { samplesPerS: B / median(s), msPerStep: median(s) * 1000, gradMB: (trainable * 4) / 2 ** 20 };
  } finally {
    bundle.dispose();
  }
}

/** The binding's in-place allreduce (sync, and async from JS) on each size: median seconds per call. */
async function allreduceWorker(sizes: number[]): Promise<Record<string, number>> {
  const c = worldCollective();
  const out: Record<string, number> = {};
  for (const bytes of sizes) {
    const buf = new Float32Array(bytes / 4).map((_, i) => (i % 97) * 0.5);
    for (const mode of ['sync', 'async'] as const) {
      const t: number[] = [];
      await c.barrier('size');
      for (let i = 0; i < 12; i++) {
        const t0 = performance.now();
        if (mode === 'sync') c.allreduce(buf, `bench ${bytes} B`);
        else await c.allreduceAsync(buf, `bench ${bytes} B`);
        if (i >= 2) t.push((performance.now() - t0) / 1000);
      }
      out[`${mode}:${bytes}`] = median(t);
    }
  }
  return out;
}

async function worker(kind: string, o: Opts & { sizes: number[] }): Promise<void> {
  await setupBackend();
  const r = kind === 'bert' ? await bertWorker(o) : kind === 'altclip' ? await altclipWorker(o) : await allreduceWorker(o.sizes);
  const c = worldCollective();
  const comm = c.stats();
  // Peak resident memory of all ranks together (VmHWM).
  const peak = Float64Array.of(Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 2 ** 20);
  c.allreduce(peak, 'peak memory');
  if (c.rank === 0) process.stdout.write(`RESULT ${JSON.stringify({ ...r, commSeconds: comm.seconds, commBytes: comm.bytes, peakGiB: peak[0] })}\n`);
}

/** Runs the worker in one process with `threads` threads, or under mpirun with `ranks` ranks of `threads` each. */
function launch(kind: string, ranks: number, threads: number, o: Opts, extra: string[] = []): Promise<Record<string, number>> {
  const self = [process.execPath, __filename, '--worker', kind, '--steps', String(o.steps), '--warmup', String(o.warmup), '--altclip-batch', String(o.altclipBatch), '--dir', o.dir, '--images', o.images, ...(o.overlap === undefined ? [] : ['--overlap', o.overlap ? '1' : '0']), ...extra];
  const [cmd, args] = ranks === 1 ? [self[0], self.slice(1)] : ['mpirun', ['-np', String(ranks), '--bind-to', o.bind, ...self]];
  const env = { ...process.env, ALTCLIP_NATIVE_THREADS: String(threads), ALTCLIP_WASM_THREADS: String(threads), OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, cwd: REPO });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) reject(new Error(`${cmd} ${args.slice(0, 6).join(' ')} ... failed (exit ${code}):\n${out.slice(-2000)}`));
      else resolve(JSON.parse(line.slice(7)));
    });
  });
}

async function compare(kind: string, o: Opts): Promise<{ one: number; two: number; ratio: number; comm: number; gradMB: number; ms: [number, number] }> {
  const one: Array<Record<string, number>> = [];
  const two: Array<Record<string, number>> = [];
  for (let r = 0; r < o.rounds; r++) {
    one.push(await launch(kind, 1, 2, o));
    two.push(await launch(kind, 2, 1, o));
    const gib = (x: Record<string, number>) => `peak ${x.peakGiB.toFixed(1)} GiB`;
    console.log(
      `  ${kind} round ${r + 1}: 1 rank x 2 threads ${one[r].samplesPerS.toFixed(2)} samples/s (${one[r].msPerStep.toFixed(0)} ms/step, ${gib(one[r])}), ` +
        `2 ranks x 1 thread ${two[r].samplesPerS.toFixed(2)} samples/s (${two[r].msPerStep.toFixed(0)} ms/step, ${gib(two[r])} both ranks, rank 0 in MPI ${two[r].commSeconds.toFixed(1)} s for ${(two[r].commBytes / 1e9).toFixed(2)} GB)`,
    );
  }
  const s1 = median(one.map((x) => x.samplesPerS));
  const s2 = median(two.map((x) => x.samplesPerS));
  // The ratio of each round (its two runs back to back see similar load), then the median over rounds.
  const ratio = median(one.map((x, r) => two[r].samplesPerS / x.samplesPerS));
  return { one: s1, two: s2, ratio, comm: median(two.map((x) => x.commBytes / x.commSeconds)), gradMB: two[0].gradMB, ms: [median(one.map((x) => x.msPerStep)), median(two.map((x) => x.msPerStep))] };
}

function allreduceReference(): { file: string } | { why: string } {
  const src = path.join(REPO, 'bench', 'c', 'allreduce-loop.c');
  const file = path.join(os.tmpdir(), `altclip-allreduce-loop-${process.pid}`);
  const r = spawnSync('mpicc', ['-O2', '-o', file, src], { encoding: 'utf8' });
  return r.status === 0 ? { file } : { why: `mpicc failed: ${(r.stderr || r.error?.message || '').trim().slice(0, 200)}` };
}

/** The binding's allreduce against the raw C loop; returns binding/raw bandwidth at 25 MiB (the bucket size), if measured. */
async function allreduceCase(o: Opts): Promise<number | undefined> {
  const ref = allreduceReference();
  if ('why' in ref) console.log(`  raw MPI reference: ${ref.why}`);
  const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
  const ours: Array<Record<string, number>> = [];
  const raw: Array<Record<number, number>> = [];
  // Alternating rounds; medians per size.
  for (let r = 0; r < o.rounds; r++) {
    ours.push(await launch('allreduce', 2, 1, o, ['--sizes', SIZES.join(',')]));
    if (!('file' in ref)) continue;
    const out = spawnSync('mpirun', ['-np', '2', '--bind-to', o.bind, ref.file, '10', ...SIZES.map(String)], { encoding: 'utf8', env }).stdout;
    raw.push(Object.fromEntries(out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).map((x) => [x.bytes, x.seconds])));
  }
  if ('file' in ref) fs.rmSync(ref.file, { force: true });
  let efficiency: number | undefined;
  console.log(`  allreduce, 2 ranks (in place, float32 sum), algorithm bandwidth = bytes / time, medians of ${o.rounds} rounds:`);
  console.log('    size        raw C loop          binding (sync)      binding (async)     binding/raw');
  const gbs = (b: number, s: number) => `${(b / s / 1e9).toFixed(2).padStart(6)} GB/s ${(s * 1000).toFixed(1).padStart(7)} ms`;
  for (const b of SIZES) {
    const [s, a] = [median(ours.map((x) => x[`sync:${b}`])), median(ours.map((x) => x[`async:${b}`]))];
    const r = raw.length ? median(raw.map((x) => x[b])) : undefined;
    console.log(`    ${(b / 2 ** 20).toFixed(0).padStart(4)} MiB   ${r ? gbs(b, r) : '        -         '}   ${gbs(b, s)}   ${gbs(b, a)}   ${r ? (r / s).toFixed(2) + 'x' : '-'}`);
    if (r && b === 25 << 20) efficiency = Math.min(1, r / s);
  }
  return efficiency;
}

/** What a table on paper is computed from. */
interface PaperInputs {
  title: string;
  /** Compute seconds per sample on one machine (forward, backward, update). */
  sampleSeconds: number;
  /** Gradient bytes allreduced per step. */
  gradBytes: number;
  /** The fraction of the link's bandwidth the allreduce reaches (the binding's bandwidth over raw MPI's, measured). */
  efficiency: number;
  batches: number[];
}

/**
 * Step time on N machines, on paper: each computes B/N samples (sampleSeconds each), then a ring allreduce moves
 * 2 (N-1)/N x the gradient bytes over its link at `efficiency` x its rate (no overlap: an upper bound).
 */
function paperTable(p: PaperInputs): void {
  const links = [10, 25, 100];
  for (const B of p.batches) {
    console.log(
      `\n${p.title}, global batch ${B}: ${p.sampleSeconds.toFixed(3)} s of compute per sample, ${(p.gradBytes / 1e9).toFixed(2)} GB of fp32 gradients, ` +
        `allreduce at ${(p.efficiency * 100).toFixed(0)}% of the link; step time in s (efficiency vs 1 machine):\n`,
    );
    console.log(`| machines | compute | ${links.map((l) => `${l} Gbit/s`).join(' | ')} |`);
    console.log(`|---:|---:|${links.map(() => '---:').join('|')}|`);
    for (const n of [1, 2, 4, 8, 16, 32, 64]) {
      if (B % n) continue;
      const compute = (B / n) * p.sampleSeconds;
      const cells = links.map((gbit) => {
        const t = compute + (n > 1 ? (2 * (n - 1) * p.gradBytes) / n / ((p.efficiency * gbit * 1e9) / 8) : 0);
        return `${t.toFixed(1)} (${((100 * B * p.sampleSeconds) / (n * t)).toFixed(0)}%)`;
      });
      console.log(`| ${n} | ${compute.toFixed(1)} | ${cells.join(' | ')} |`);
    }
  }
}

/** From --sample-seconds / --grad-gb / --efficiency (defaults: AltCLIP-L fine-tuned whole, the issue's 3.46 GB). */
const finetuneTable = (o: Opts, efficiency = o.efficiency): PaperInputs => ({
  title: 'AltCLIP-L', sampleSeconds: o.sampleSeconds, gradBytes: o.gradGB * 1e9, efficiency, batches: [64, 1024],
});

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (o.worker) return worker(o.worker, o);
  if (o.cases.length === 1 && o.cases[0] === 'paper') return paperTable(finetuneTable(o));
  const mpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (mpirun.status !== 0 || !loadMpiAddon()) {
    console.log(`data-parallel: skipped: ${mpirun.status !== 0 ? 'mpirun not found (apt-get install openmpi-bin libopenmpi-dev)' : mpiUnavailableReason()}`);
    return;
  }
  console.log(`data-parallel ${new Date().toISOString()}: ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}; ${mpirun.stdout.split('\n')[0]}; mpirun --bind-to ${o.bind}; overlap ${o.overlap === undefined ? 'default' : o.overlap ? 'on' : 'off'}; ${o.warmup} warm-up + ${o.steps} timed steps, ${o.rounds} rounds`);
  const made = o.images ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'altclip-dp-images-'));
  try {
    await runCases(o, made);
  } finally {
    if (made) fs.rmSync(made, { recursive: true, force: true });
  }
}

/** Each case in turn; `images`: an empty folder for the altclip case's JPEGs (unless --images named one). */
async function runCases(o: Opts, images: string | undefined): Promise<void> {
  let efficiency: number | undefined;
  let stage2: PaperInputs | undefined;
  for (const kind of o.cases) {
    if (kind === 'paper') continue; // printed at the end, from what this run measured
    if (kind === 'allreduce') {
      efficiency = await allreduceCase(o);
      continue;
    }
    if (kind === 'altclip') {
      await ensureModel(o.dir);
      if (images && !o.images) {
        await generateJpegs(images, 16);
        o.images = images;
      }
    }
    const r = await compare(kind, o);
    const what = kind === 'bert' ? 'bert-train shape (global batch 8)' : `AltCLIP-L stage 2, image tower locked in bf16, --freeze-embeddings, --shard-optimizer on 2 ranks (global batch ${o.altclipBatch})`;
    console.log(
      `RESULT ${kind}: ${what}: 2 ranks x 1 thread ${r.two.toFixed(2)} samples/s (${r.ms[1].toFixed(0)} ms/step) vs 1 rank x 2 threads ${r.one.toFixed(2)} samples/s (${r.ms[0].toFixed(0)} ms/step) = ` +
        `${r.ratio.toFixed(2)}x (median of the rounds' ratios; target >= 0.9x); ${r.gradMB.toFixed(0)} MiB of gradients per step`,
    );
    if (kind === 'altclip') {
      const title = 'AltCLIP-L stage 2 as measured here (image tower locked in bf16, --freeze-embeddings)';
      stage2 = { title, sampleSeconds: r.ms[0] / 1000 / o.altclipBatch, gradBytes: r.gradMB * 2 ** 20, efficiency: 1, batches: [1024] };
    }
  }
  if (!o.cases.includes('paper')) return;
  const eff = efficiency ?? o.efficiency;
  console.log(`\nOn paper (allreduce efficiency ${eff.toFixed(2)}: ${efficiency === undefined ? '--efficiency' : 'the binding over raw MPI at 25 MiB, measured above'}):`);
  paperTable(finetuneTable(o, eff));
  if (stage2) paperTable({ ...stage2, efficiency: eff });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
