/**
 * Soak test: does memory stay flat over a long run? (issue 24, item 15.) Two phases, each timed and sampled:
 *   1. embeds: image files -> worker-pool decode + preprocess -> getImageFeatures -> L2-normalised rows, in batches,
 *      the loop of `altclip embed --images` (through the library: fileBatchLoader, prefetch, the model), with the
 *      embeddings checksummed rather than kept (keeping them is the command's O(N) output, not a leak);
 *   2. fine-tune steps: runFinetune (image tower frozen, features cached) on CIFAR-10 fixture images.
 * Prints RSS, JS heap, ArrayBuffers and tfjs tensors at 10% and 100% of each phase (and every 10% with --trace), and
 * fails (exit 1) when RSS at 100% is more than 10% above RSS at 10%.
 *
 *   npm run bench -- soak [--embeds 200000] [--steps 5000] [--batch 32] [--model DIR] [--backend native|wasm|cpu]
 *                         [--images DIR] [--threads N] [--trace]
 *
 * Defaults: the tiny fixture model (ALTCLIP_SHARED or ../shared: fixtures/altclip-tiny) and the fixture images of
 * every format (fixtures/preprocess/images: JPEG incl. CMYK and EXIF, PNG grey/palette/RGBA), cycled.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, BackendName } from '@altclip/backend';
import { fileBatchLoader, prefetch, readCifar10, sequentialBatches, ClassificationDataset } from '@altclip/data';
import { closeSharedPool, ImageProcessor } from '@altclip/image';
import { AltCLIPModel } from '@altclip/models';
import { normalizeRows } from '@altclip/eval';
import { runFinetune } from '@altclip/train';
import { loadTokenizer, TextTokenizer } from '@altclip/tokenizers';

// Samples are taken after a full garbage collection, so they show what is retained, not garbage not yet collected.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

interface Opts {
  embeds: number;
  steps: number;
  batch: number;
  model: string;
  backend: string;
  images: string;
  /** Decoding threads for the embeds (default: one per CPU; 0: on the main thread). */
  threads?: number;
  trace: boolean;
}

const SHARED = process.env.ALTCLIP_SHARED ?? path.resolve(__dirname, '..', '..', '..', 'shared');
const REPO = path.resolve(__dirname, '..', '..');

function parseArgs(argv: string[]): Opts {
  const o: Opts = {
    embeds: 200000, steps: 5000, batch: 32, model: path.join(SHARED, 'fixtures', 'altclip-tiny'), backend: 'auto',
    images: path.join(SHARED, 'fixtures', 'preprocess', 'images'), threads: undefined, trace: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(argv[i]);
    if (argv[i] === '--help' || argv[i] === '-h') {
      console.log('options: --embeds N --steps N --batch N --model DIR --backend NAME --images DIR --threads N --trace');
      process.exit(0);
    }
    if (!m || !(m[1] in o)) throw new Error(`unknown argument '${argv[i]}' (see --help)`);
    const k = m[1] as keyof Opts;
    if (k === 'trace') {
      o.trace = true;
      continue;
    }
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new Error(`--${k} needs a value`);
    if (k === 'model' || k === 'backend' || k === 'images') o[k] = v;
    else {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || (k === 'batch' && n < 1)) throw new Error(`--${k} must be an integer >= ${k === 'batch' ? 1 : 0}, got '${v}'`);
      (o as unknown as Record<string, number>)[k] = n;
    }
  }
  return o;
}

interface Sample {
  at: string;
  rss: number;
  heap: number;
  /** The JS heap's committed size: it grows while V8 enlarges its young generation (bounded, see docs/benchmarks.md). */
  heapTotal: number;
  arrayBuffers: number;
  tensors: number;
}

const MiB = 2 ** 20;
function sample(at: string): Sample {
  gc();
  gc();
  const m = process.memoryUsage();
  return { at, rss: m.rss / MiB, heap: m.heapUsed / MiB, heapTotal: m.heapTotal / MiB, arrayBuffers: m.arrayBuffers / MiB, tensors: tf.memory().numTensors };
}
const show = (s: Sample) =>
  `${s.at.padEnd(14)} rss ${s.rss.toFixed(1).padStart(7)} MiB  heap ${s.heap.toFixed(1).padStart(6)}/${s.heapTotal.toFixed(1)} MiB  arrayBuffers ${s.arrayBuffers.toFixed(1).padStart(6)} MiB  tensors ${s.tensors}`;

/** Samples at 10% and 100% of `total` (and every 10% with trace); `done` is called with the progress so far. */
function sampler(total: number, trace: boolean): { at10?: Sample; at100?: Sample; tick(done: number): void } {
  const s: { at10?: Sample; at100?: Sample; tick(done: number): void } = {
    tick(done: number) {
      const pct = Math.floor((10 * done) / total);
      const prev = Math.floor((10 * (done - 1)) / total);
      if (pct === prev && done !== total) return;
      const x = sample(`${done}/${total}`);
      if (pct >= 1 && !s.at10) s.at10 = x;
      if (done === total) s.at100 = x;
      if (trace || done === total || s.at10 === x) console.log('  ' + show(x));
    },
  };
  return s;
}

async function embedPhase(o: Opts, model: AltCLIPModel, processor: ImageProcessor): Promise<{ at10?: Sample; at100?: Sample; perS: number }> {
  const pool = fs.readdirSync(o.images).filter((f) => /\.(jpe?g|png|webp|bmp|ppm|pgm|gif|tiff?)$/i.test(f)).sort().map((f) => path.join(o.images, f));
  if (!pool.length) throw new Error(`--images ${o.images}: no image files`);
  const file = (i: number) => pool[i % pool.length];
  const loader = fileBatchLoader(file, processor, { skipErrors: true, threads: o.threads });
  const s = sampler(o.embeds, o.trace);
  let done = 0;
  let checksum = 0;
  const t0 = Date.now();
  for await (const b of prefetch(sequentialBatches(0, o.embeds, o.batch), loader, 2)) {
    if (b.indices.length) {
      const f = tf.tidy(() => model.getImageFeatures(tf.tensor4d(b.data, b.shape)));
      const rows = normalizeRows(f.dataSync() as Float32Array, b.indices.length, f.shape[1]);
      f.dispose();
      checksum += rows[0];
    }
    for (let k = 0; k < b.indices.length + b.failed.length; k++) s.tick(++done);
  }
  if (!Number.isFinite(checksum)) throw new Error('embeddings are not finite');
  return { ...s, perS: o.embeds / Math.max((Date.now() - t0) / 1000, 1e-3) };
}

/** CIFAR-10 fixture images with their class names as captions. */
function cifar(): { ds: ClassificationDataset; close(): void } {
  const c = readCifar10(path.join(SHARED, 'fixtures', 'cifar10_bin'), { split: 'train' });
  return { ds: c, close: () => c.close() };
}

/**
 * The run's tokenizer, counting calls: captions are tokenised once per step (the batch of the step after next is being
 * prepared), so this is where the fine-tune phase is sampled, between steps.
 */
function countingTokenizer(inner: TextTokenizer, onCall: (n: number) => void): TextTokenizer {
  let n = 0;
  return {
    encode: (texts, opts) => {
      onCall(++n);
      return inner.encode(texts, opts);
    },
    decode: (ids, opts) => inner.decode(ids, opts),
    save: (dir) => inner.save(dir),
    vocabSize: inner.vocabSize,
    padTokenId: inner.padTokenId,
  };
}

async function finetunePhase(o: Opts): Promise<{ at10?: Sample; at100?: Sample; perS: number }> {
  const c = cifar();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'altclip-soak-'));
  const s = sampler(o.steps, o.trace);
  // The trainer prepares the next step's batch before it runs a step: call n comes when step n - 2 is done.
  const tokenizer = countingTokenizer(await loadTokenizer(path.join(REPO, 'datasets', 'demo-spm')), (n) => n >= 3 && s.tick(n - 2));
  const t0 = Date.now();
  try {
    const r = await runFinetune({
      model: o.model, tokenizer, dataset: c.ds, templates: ['a photo of a {c}.'], out: path.join(out, 'run'),
      batchSize: o.batch, steps: o.steps, lr: 1e-4, warmup: 0, schedule: 'constant', logEvery: Math.max(1, Math.floor(o.steps / 10)), progress: false,
      log: () => undefined,
    });
    if (r.status !== 'completed') throw new Error(`fine-tune: ${r.status}`);
    s.tick(o.steps);
    return { ...s, perS: o.steps / Math.max((Date.now() - t0) / 1000, 1e-3) };
  } finally {
    c.close();
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/** RSS growth from 10% to 100% of a phase, checked against the 10% budget. */
function verdict(name: string, r: { at10?: Sample; at100?: Sample }): boolean {
  if (!r.at10 || !r.at100) return true;
  const ratio = r.at100.rss / r.at10.rss;
  const ok = ratio <= 1.1;
  console.log(`${name}: RSS ${r.at10.rss.toFixed(1)} MiB at 10% -> ${r.at100.rss.toFixed(1)} MiB at 100% (x${ratio.toFixed(3)}; limit x1.100) ${ok ? 'ok' : 'FAIL'}`);
  return ok;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const be = await setupBackend({ backend: o.backend as BackendName | 'auto' });
  console.log(`soak: ${o.embeds} embeds + ${o.steps} fine-tune steps, batch ${o.batch}, model ${o.model}, backend ${be.name}, ${os.cpus().length} CPUs`);
  let ok = true;
  if (o.embeds > 0) {
    const model = await AltCLIPModel.fromPretrained(o.model);
    const processor = fs.existsSync(path.join(o.model, 'preprocessor_config.json'))
      ? ImageProcessor.fromPretrained(o.model)
      : new ImageProcessor({ size: model.config.vision_config.image_size, crop_size: model.config.vision_config.image_size });
    console.log(`embeds (images from ${o.images}):`);
    const e = await embedPhase(o, model, processor);
    model.dispose();
    console.log(`  ${e.perS.toFixed(1)} images/s`);
    ok = verdict('embeds', e) && ok;
  }
  if (o.steps > 0) {
    console.log('fine-tune steps (runFinetune, CIFAR-10 fixture, image tower frozen):');
    const f = await finetunePhase(o);
    console.log(`  ${f.perS.toFixed(1)} steps/s`);
    ok = verdict('fine-tune', f) && ok;
  }
  await closeSharedPool();
  if (!ok) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`soak: ${(e as Error).message}`);
  process.exit(1);
});
