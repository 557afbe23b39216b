/**
 * The seed's recipe at the real size: `altclip finetune --preset flagai` (batch 4, AdamW, lr 1e-4, every parameter
 * trainable) for 2 steps on a saved AltCLIP-L folder with random weights: the library's runFinetune with the same
 * settings in a child process (bench/src/_finetune-child.ts), in the precision asked for through the precision
 * hooks (@altclip/models getPrecision: support / prepareModel / autocast). Prints each step's time and the peak RSS
 * of the training process. Not a CI test: it needs ~20 GiB of RAM and several minutes.
 *
 *   npm run bench -- altclip-large-finetune [--steps 2] [--precision fp32|amp_bf16|bf16] [--profile] [--dir /tmp/altclip-large-random]
 *                                           [--keep] [--lock-image] [--frozen-dtype bf16|f16] [--grad-checkpointing]
 * --profile: time per kernel and per phase of the step (forward + backward, gradient clipping, AdamW).
 * --layers N: both towers cut to N layers (AltCLIP-L's widths; the default folder becomes altclip-large-<N>l-random), to
 * profile the same per-layer work where 20 GiB are not free.
 *
 * The model folder (3.5 GB) is written once into --dir and reused by later runs (--keep leaves it there). The data
 * is a synthetic CIFAR-10 binary file (16 random images), the tokenizer the small SentencePiece model the demo ships
 * (its ids are valid XLM-R ids; only speed and memory are measured here).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { getPrecision } from '@altclip/models';
import { ensureModel, syntheticCifar, watchPeak } from './_large-model';

function parse(argv: string[]) {
  const o = {
    steps: 2, dir: path.join(os.tmpdir(), 'altclip-large-random'), keep: false, precision: 'fp32', profile: false, lockImage: false,
    frozenDtype: undefined as 'bf16' | 'f16' | undefined, gradCheckpointing: false, layers: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--steps') o.steps = Number(argv[++i]);
    else if (a === '--precision') o.precision = getPrecision(argv[++i]).name;
    else if (a === '--profile') o.profile = true;
    else if (a === '--layers') {
      o.layers = Number(argv[++i]);
      if (!Number.isInteger(o.layers) || o.layers < 1) throw new Error(`--layers must be a positive integer, got '${argv[i]}'`);
      if (!argv.includes('--dir')) o.dir = path.join(os.tmpdir(), `altclip-large-${o.layers}l-random`);
    }
    else if (a === '--lock-image') o.lockImage = true;
    else if (a === '--grad-checkpointing') o.gradCheckpointing = true;
    else if (a === '--frozen-dtype') {
      const v = argv[++i];
      if (v !== 'bf16' && v !== 'f16') throw new Error(`--frozen-dtype must be bf16 or f16, got '${v}'`);
      o.frozenDtype = v;
    }
    else if (a === '--dir') o.dir = argv[++i];
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') {
      console.log('see the comment at the top of bench/src/altclip-large-finetune.ts');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}' (see --help)`);
  }
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`--steps must be a positive integer, got ${o.steps}`);
  return o;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  await ensureModel(o.dir, o.layers);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'altclip-large-ft-'));
  const data = path.join(work, 'cifar');
  syntheticCifar(data);
  const run = path.join(work, 'run');
  const spec = { model: o.dir, data, out: run, steps: o.steps, precision: o.precision, profile: o.profile, lockImage: o.lockImage, frozenDtype: o.frozenDtype, gradCheckpointing: o.gradCheckpointing };
  const args = [path.join(__dirname, '_finetune-child.js'), JSON.stringify(spec)];
  console.log(`altclip-large-finetune ${new Date().toISOString()}: ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  console.log(`$ node ${args.join(' ')}`);
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  const stop = watchPeak(child.pid!);
  const code: number = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  const peak = stop();
  const wall = (performance.now() - t0) / 1000;
  if (code !== 0) {
    console.log(`RESULT altclip-large-finetune: the finetune command failed (exit ${code}) after ${wall.toFixed(0)} s, peak RSS ${(peak / 2 ** 30).toFixed(2)} GiB`);
    process.exitCode = 1;
  } else {
    const metrics = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.loss !== undefined);
    const stepS = metrics.map((m) => (m.samples_per_s ? 4 / m.samples_per_s : NaN));
    console.log(`RESULT altclip-large-finetune (${o.precision}): ${metrics.length} steps, step times ${stepS.map((s) => s.toFixed(1)).join(', ')} s, losses ${metrics.map((m) => m.loss.toFixed(4)).join(', ')}; wall ${wall.toFixed(0)} s (incl. loading and saving final/); peak RSS ${(peak / 2 ** 30).toFixed(2)} GiB`);
  }
  fs.rmSync(work, { recursive: true, force: true });
  if (!o.keep && o.dir.startsWith(os.tmpdir())) fs.rmSync(o.dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
