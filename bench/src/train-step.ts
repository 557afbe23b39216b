/**
 * Training-step benchmark for a dense post-LN transformer encoder (BERT/XLM-R layout) written with tfjs-core ops:
 * token embedding gather + positions, LayerNorm, multi-head attention with a padding mask, exact-GELU FFN,
 * mean pooling, MSE loss, tf.variableGrads and Adam (or SGD). For wasm it runs the stock matmul kernels and the
 * patched ones in the same process and prints the ratio.
 *
 *   npm run bench -- train-step [--layers 2 --hidden 256 --heads 4 --ffn 1024 --batch 8 --seq 64 --vocab 8192
 *                                --steps 3 --warmup 1 --optimizer adam|sgd --backends wasm,cpu,native]
 * BERT-base size: --layers 4 --hidden 768 --heads 12 --ffn 3072 --batch 8 --seq 64 (--layers 12 for all of it).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendName, appliedPatches, backendInfo, nativeInfo, patchKernels, setupBackend, unpatchKernels } from '@altclip/backend';
import { fallbackKernelUse } from '@altclip/native';
import { EncoderDims, EncoderParams, encoderBatch, encoderForward, initEncoderParams, profileKernels } from './_shared-encoder';

interface Opts extends EncoderDims {
  steps: number;
  warmup: number;
  optimizer: 'adam' | 'sgd';
  backends: string[];
  /** Print the kernels that took the most time in the (last) run of each backend. */
  profile: number;
  /** 0 skips the stock-kernel wasm run (quicker when only the patched speed is wanted). */
  stock: number;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { layers: 2, hidden: 256, heads: 4, ffn: 1024, batch: 8, seq: 64, vocab: 8192, steps: 3, warmup: 1, optimizer: 'adam', backends: ['wasm'], profile: 0, stock: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log('options: --layers --hidden --heads --ffn --batch --seq --vocab --steps --warmup --optimizer adam|sgd --backends wasm,cpu,native,tensorflow --profile 1 --stock 0|1');
      process.exit(0);
    }
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(a);
    if (!m || !(m[1] in o)) throw new Error(`unknown argument '${a}' (see --help)`);
    const v = m[2] ?? argv[++i];
    if (v == null) throw new Error(`${a} needs a value`);
    const k = m[1] as keyof Opts;
    if (k === 'backends') o.backends = v.split(',').map((s) => s.trim()).filter(Boolean);
    else if (k === 'optimizer') {
      if (v !== 'adam' && v !== 'sgd') throw new Error(`--optimizer must be adam or sgd, got '${v}'`);
      o.optimizer = v;
    } else {
      const n = Number(v);
      if (!Number.isInteger(n) || n < (k === 'warmup' || k === 'profile' || k === 'stock' ? 0 : 1)) throw new Error(`${a} must be a positive integer, got '${v}'`);
      (o as unknown as Record<string, number>)[k] = n;
    }
  }
  if (o.hidden % o.heads) throw new Error(`--hidden ${o.hidden} is not divisible by --heads ${o.heads}`);
  return o;
}

/** Mean-pooled encoder output, [B, H]. ids/mask [B, S]. */
function encode(p: EncoderParams, o: Opts, ids: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  const { batch: B, seq: S } = o;
  const maskBias = tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, 'float32')), -1e9), [B, 1, 1, S]);
  const m = tf.reshape(tf.cast(mask, 'float32'), [B, S, 1]);
  return encoderForward(p, o, tf.reshape(ids, [B * S]), maskBias, m);
}

interface Result {
  label: string;
  msPerStep: number;
  samplesPerS: number;
  loss: number;
  memory: tf.MemoryInfo;
  rssMiB: number;
}

function batchData(o: Opts): { ids: tf.Tensor2D; mask: tf.Tensor2D; target: tf.Tensor2D } {
  const { ids, mask } = encoderBatch(o);
  return {
    ids: tf.tensor2d(ids, [o.batch, o.seq], 'int32'),
    mask: tf.tensor2d(mask, [o.batch, o.seq], 'int32'),
    target: tf.randomNormal([o.batch, o.hidden], 0, 1, 'float32', 99) as tf.Tensor2D,
  };
}

const profile = (backend: string) => profileKernels(backend, (ms) => `  kernel time by kernel (all steps incl. warm-up, ${ms.toFixed(0)} ms total):`, 15);

/** The cpu kernels the native backend fell back to during the run (issue 11: a training step should use none). */
function printFallbacks(use: Map<string, { calls: number; ms: number }>): void {
  const rows = [...use].sort((a, b) => b[1].ms - a[1].ms);
  if (!rows.length) return console.log('  fallback (stock cpu) kernels on native: none');
  console.log('  fallback (stock cpu) kernels on native (all steps incl. warm-up):');
  for (const [name, u] of rows) console.log(`    ${name.padEnd(22)} ${u.ms.toFixed(1).padStart(7)} ms  ${u.calls} calls`);
}

async function runOne(label: string, o: Opts): Promise<Result> {
  const p = initEncoderParams(o);
  const data = batchData(o);
  const opt = o.optimizer === 'adam' ? tf.train.adam(1e-4) : tf.train.sgd(1e-3);
  const vars = [...p.values()];
  let loss = NaN;
  const step = () => {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(encode(p, o, data.ids, data.mask), data.target)) as tf.Scalar, vars);
      opt.applyGradients(grads as never); // NamedTensorMap keyed by variable name, which applyGradients accepts
      loss = value.dataSync()[0]; // forces the step to finish
    });
  };
  for (let i = 0; i < o.warmup; i++) step();
  const times: number[] = [];
  for (let i = 0; i < o.steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
    process.stderr.write(`  ${label}: step ${i + 1}/${o.steps} ${times[i].toFixed(0)} ms\n`);
  }
  const memory = tf.memory();
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  opt.dispose();
  tf.dispose([...vars, data.ids, data.mask, data.target]);
  const msPerStep = times.reduce((a, b) => a + b, 0) / times.length;
  return { label, msPerStep, samplesPerS: (o.batch * 1000) / msPerStep, loss, memory, rssMiB };
}

function fmt(r: Result): string {
  const mb = (r.memory.numBytes / 2 ** 20).toFixed(0);
  return `${r.label.padEnd(44)} ${r.msPerStep.toFixed(0).padStart(8)} ms/step ${r.samplesPerS.toFixed(2).padStart(8)} samples/s   loss ${r.loss.toFixed(5)}   tf.memory: ${r.memory.numTensors} tensors, ${mb} MiB   rss ${r.rssMiB.toFixed(0)} MiB`;
}

/**
 * The baseline restores every stock wasm kernel we replace (BatchMatMul, _FusedMatMul, Identity); the kernels
 * stock wasm lacks (UnsortedSegmentSum, Conv2DBackpropFilter) stay, since without them it cannot train at all.
 */
const replacedOnWasm = () => appliedPatches().filter((p) => p.backend === 'wasm' && p.replaces).map((p) => p.kernel);

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const params = o.vocab * o.hidden + o.seq * o.hidden + o.layers * (4 * o.hidden * o.hidden + 2 * o.hidden * o.ffn);
  console.log(
    `train-step: post-LN encoder, layers ${o.layers}, hidden ${o.hidden}, heads ${o.heads}, ffn ${o.ffn}, batch ${o.batch}, seq ${o.seq}, vocab ${o.vocab} ` +
      `(${(params / 1e6).toFixed(1)}M params), ${o.optimizer}, ${o.warmup} warm-up + ${o.steps} timed steps, ${new Date().toISOString()}`,
  );
  for (const be of o.backends) {
    const choice = await setupBackend({ backend: be as BackendName });
    if (be === 'wasm') {
      // 1. stock tfjs kernels (plus the ones stock wasm lacks), 2. this package's kernels (pure TypeScript/wasm),
      // 3. with @altclip/native on top, when it is installed and usable.
      await setupBackend({ backend: 'wasm', patchKernels: false }); // also takes native kernels off
      patchKernels({ native: false });
      let stock: Result | undefined;
      if (o.stock) {
        const replaced = replacedOnWasm();
        unpatchKernels(replaced);
        stock = await runOne(`wasm, stock ${replaced.join('/')}`, o);
        patchKernels({ native: false });
      }
      const stopProfile = o.profile ? profile('wasm') : undefined;
      const patched = await runOne('wasm, patched kernels (TS/wasm)', o);
      stopProfile?.();
      if (stock) console.log(fmt(stock));
      console.log(fmt(patched));
      if (stock) console.log(`wasm speed-up from the kernel patches: ${(stock.msPerStep / patched.msPerStep).toFixed(2)}x (same process, same data)`);
      const info = backendInfo();
      console.log(`  (wasm: SIMD ${info.wasm?.simd}, ${info.wasm?.threads} thread(s); the stock run keeps the kernels stock wasm lacks, e.g. UnsortedSegmentSum, without which it cannot train an embedding)`);
      await setupBackend({ backend: 'wasm' }); // native kernels back on, if any
      const native = nativeInfo();
      if (native.active) {
        const n = await runOne('wasm + @altclip/native', o);
        console.log(fmt(n));
        console.log(`@altclip/native vs patched TS/wasm: ${(patched.msPerStep / n.msPerStep).toFixed(2)}x${stock ? `, vs stock: ${(stock.msPerStep / n.msPerStep).toFixed(2)}x` : ''}`);
      } else {
        console.log(`  native kernels: ${native.note}`);
      }
    } else {
      const stopProfile = o.profile ? profile(choice.name) : undefined;
      const onNative = choice.name === 'native';
      if (onNative) fallbackKernelUse(true);
      const r = await runOne(`${choice.name}${be === 'cpu' ? ' (patched UnsortedSegmentSum)' : ''}`, o);
      stopProfile?.();
      if (onNative) printFallbacks(fallbackKernelUse(true));
      console.log(fmt(r));
    }
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
