/**
 * Our CPU path against PyTorch on the same machine, same shapes, same ops, same thread count, measured in one run
 * with the two sides alternating rounds (the machine is shared: only same-run ratios mean anything).
 *
 *   npm run bench -- vs-pytorch [--case bert-train|vit-forward|altclip-large|all] [--threads 2] [--rounds 3]
 *        [--steps 2] [--warmup 1] [--python /usr/bin/python3] [--profile] [--no-native] [--no-fused]
 *        [--reference hand|transformers|both] [--precision fp32|amp_bf16] [--backends tensorflow,native]
 *        bert-train only: [--layers 4 --hidden 768 --heads 12 --ffn 3072 --batch 8 --seq 64 --vocab 8192]
 *
 * --reference: `hand` is the hand-written torch code of vs_pytorch.py (same ops as ours); `transformers` is what users
 * run: Hugging Face's AltCLIPModel / AltCLIPTextModel + CLIPTextModelWithProjection built from config (SDPA attention)
 * for altclip-large, altclip-large-finetune and distill-large. Default: both where transformers imports in the
 * --python interpreter (each against a fresh run of ours), else hand. --precision amp_bf16: ours under
 * getPrecision('amp_bf16').autocast (bf16 products where the CPU has AVX512_BF16, else float32, as it prints), theirs
 * under torch.autocast('cpu', dtype=torch.bfloat16).
 *
 * --backends: our side on each listed backend (tensorflow = tfjs-node, see npm run setup:tensorflow), one column
 * and one RESULT line each, in the same rounds as PyTorch; default: the best available backend only. Peak RSS is
 * then the process's, over all of them.
 *
 * PyTorch side: bench/python/vs_pytorch.py (Debian's python3-torch: apt-get install -y python3-torch), run with
 * OMP_WAIT_POLICY=PASSIVE and OPENBLAS_NUM_THREADS=--threads so idle threads do not spin against ours.
 * Cases:
 *  - bert-train: 4-layer BERT-base-size post-LN encoder training step (768/12/3072, batch 8 x seq 64, vocab 8192):
 *    embeddings, LayerNorm, masked MHA, exact-GELU FFN, mean pooling, MSE, backward, AdamW (@altclip/train's).
 *  - vit-forward: CLIP ViT-B/16 image features, batch 8 at 224x224 (@altclip/models CLIPModel vision tower).
 *  - altclip-large: BAAI/AltCLIP shapes (configs/models/altclip-large.json), random weights, one image + one
 *    77-token text; time and peak RSS of each side's process (each case runs in its own node process).
 *  - altclip-large-finetune: one optimizer step of AltCLIP-L (random init), every parameter trainable, batch 4
 *    images 224x224 + 4 captions of 16 tokens, text dropout on, CLIP loss, AdamW (wd 0.1 on all).
 *  - distill-large: one stage-1 step: XLM-R-large student (+ pre_LN + transformation) trainable, CLIP ViT-L/14 text
 *    tower as frozen teacher (run without gradient each step), batch 16 x 64 tokens, MSE on pooled features, AdamW.
 * The two large training cases need ~17 GiB (PyTorch) and as much on our side: they do not fit side by side, so
 * they run one after the other (PyTorch's warm-up and steps, then ours), not in alternating rounds.
 *
 * --python takes a comma-separated list; by default every PyTorch found among /usr/bin/python3 (Debian's 1.13),
 * `python3` on PATH and /opt/torch2/bin/python is measured, each against a fresh run of ours.
 */
import * as os from 'os';
import * as path from 'path';
import { ChildProcessWithoutNullStreams, spawn, spawnSync } from 'child_process';
import * as readline from 'readline';
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, setupBackend, BackendName, BACKEND_ORDER } from '@altclip/backend';
import { AdamW, valueAndGrads, variableGradsLean } from '@altclip/train';
import { fallbackKernelUse } from '@altclip/native';
import {
  AltCLIPConfig, AltCLIPModel, altclipSpecs, CLIPModel, clipLoss, CLIPTextModelWithProjection, getModelConfig, getPrecision, layerNorm, setFusedKernels, linear, param, randomVariables, xlmrForward,
} from '@altclip/models';
import { encoderBatch, encoderForward, initEncoderParams, profileKernels } from './_shared-encoder';

const CASES = ['bert-train', 'vit-forward', 'altclip-large', 'altclip-large-finetune', 'distill-large'] as const;
/** Cases too large to keep both sides in memory at once: run sequentially. */
const SEQUENTIAL = new Set<string>(['altclip-large-finetune', 'distill-large']);
/** Time targets against the best PyTorch (issue 12: at most 0.8x on these; the others, issue 11: at most 1.0x). */
const TIME_TARGET: Partial<Record<string, number>> = { 'bert-train': 0.8, 'vit-forward': 0.8, 'altclip-large': 0.8 };
type CaseName = (typeof CASES)[number];

interface Opts {
  cases: CaseName[];
  threads: number;
  rounds: number;
  steps: number;
  warmup: number;
  python: string;
  profile: boolean;
  native: boolean;
  /** @altclip/models' fused kernels (LayerNorm, bias + GELU, attention); --no-fused: the composed ops. */
  fused: boolean;
  /** Our backends (--backends); empty: the best available one. */
  backends: BackendName[];
  bert: { layers: number; hidden: number; heads: number; ffn: number; batch: number; seq: number; vocab: number };
  /** Empty: both where transformers imports (the AltCLIP-L cases), else hand. */
  reference: Array<'hand' | 'transformers'>;
  precision: 'fp32' | 'amp_bf16';
}
/** Cases with a transformers reference (vs_pytorch.py --impl transformers). */
const HF_CASES = new Set<string>(['altclip-large', 'altclip-large-finetune', 'distill-large']);

function parseArgs(argv: string[]): Opts {
  const o: Opts = {
    cases: ['bert-train'],
    threads: os.cpus().length,
    rounds: 3,
    steps: 2,
    warmup: 1,
    python: process.env.ALTCLIP_PYTHON ?? '',
    profile: false,
    native: process.env.ALTCLIP_NATIVE !== '0',
    fused: true,
    backends: [],
    bert: { layers: 4, hidden: 768, heads: 12, ffn: 3072, batch: 8, seq: 64, vocab: 8192 },
    reference: [],
    precision: 'fp32',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v == null) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (min: number) => {
      const v = val();
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`${a} must be an integer >= ${min}, got '${v}'`);
      return n;
    };
    if (a === '--case') {
      const v = val();
      o.cases = v === 'all' ? [...CASES] : (v.split(',') as CaseName[]);
      for (const c of o.cases) if (!CASES.includes(c)) throw new Error(`unknown --case '${c}' (choose ${CASES.join(', ')} or all)`);
    } else if (a === '--threads') o.threads = int(1);
    else if (a === '--rounds') o.rounds = int(1);
    else if (a === '--steps') o.steps = int(1);
    else if (a === '--warmup') o.warmup = int(0);
    else if (a === '--python') o.python = val();
    else if (a === '--profile') o.profile = true;
    else if (a === '--no-native') o.native = false;
    else if (a === '--no-fused') o.fused = false;
    else if (a === '--reference') {
      const v = val();
      if (v !== 'hand' && v !== 'transformers' && v !== 'both') throw new Error(`--reference must be hand, transformers or both, got '${v}'`);
      o.reference = v === 'both' ? ['hand', 'transformers'] : [v];
    } else if (a === '--precision') {
      const v = val();
      if (v !== 'fp32' && v !== 'amp_bf16') throw new Error(`--precision must be fp32 or amp_bf16 (the precisions both sides have), got '${v}'`);
      o.precision = v;
    } else if (a === '--backends') {
      o.backends = val().split(',').filter(Boolean) as BackendName[];
      for (const b of o.backends) if (!BACKEND_ORDER.includes(b)) throw new Error(`unknown backend '${b}' in --backends (choose from ${BACKEND_ORDER.join(', ')})`);
    }
    else if (a.startsWith('--') && a.slice(2) in o.bert) (o.bert as Record<string, number>)[a.slice(2)] = int(1);
    else if (a === '--help' || a === '-h') {
      console.log('see the comment at the top of bench/src/vs-pytorch.ts');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}' (see --help)`);
  }
  if (o.bert.hidden % o.bert.heads) throw new Error(`--hidden ${o.bert.hidden} is not divisible by --heads ${o.bert.heads}`);
  return o;
}

// ------------------------------------------------------------------------------------------ the PyTorch side
interface Python {
  ready: Record<string, unknown>;
  run(n: number): Promise<number[]>;
  quit(): Promise<number>;
}

async function startPython(o: Opts, c: CaseName): Promise<Python> {
  const script = path.join(__dirname, '..', 'python', 'vs_pytorch.py');
  const b = o.bert;
  const args = [script, '--case', c, '--threads', String(o.threads), '--layers', String(b.layers), '--hidden', String(b.hidden), '--heads', String(b.heads), '--ffn', String(b.ffn), '--batch', String(c === 'vit-forward' ? 8 : b.batch), '--seq', String(b.seq), '--vocab', String(b.vocab),
    '--impl', o.reference[0] ?? 'hand', '--precision', o.precision];
  const env = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: String(o.threads), OPENBLAS_NUM_THREADS: String(o.threads) };
  const child: ChildProcessWithoutNullStreams = spawn(o.python, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error(`PyTorch side (${o.python} ${path.relative(process.cwd(), script)}) exited: ${stderr.trim().split('\n').slice(-3).join(' | ') || 'no output'}`);
    return JSON.parse(r.value);
  };
  const ready = await next();
  return {
    ready,
    async run(n) {
      child.stdin.write(`run ${n}\n`);
      return ((await next()).times as number[]).map((s) => s * 1000);
    },
    async quit() {
      child.stdin.write('quit\n');
      const r = await next();
      child.stdin.end();
      return r.peak_rss_bytes as number;
    },
  };
}

// ------------------------------------------------------------------------------------------ our side
interface Ours {
  describe: string;
  /** One timed iteration (synchronous on wasm/cpu; ends with a data read so all work is done). */
  step(): void;
  dispose(): void;
}

let bertBuilds = 0;

/** Same model and data as bert_case() in vs_pytorch.py. */
function bertTrain(o: Opts): Ours {
  const { layers: L, hidden: H, heads: NH, ffn: FF, batch: B, seq: S, vocab: V } = o.bert;
  const prefix = `vsp${bertBuilds++ || ''}.`; // variable names are global: one prefix per backend built (--backends)
  const params = initEncoderParams(o.bert, prefix);
  const batch = encoderBatch(o.bert);
  const ids = tf.tensor1d(batch.ids, 'int32');
  const mask = tf.tensor3d(batch.mask, [B, S, 1], 'float32');
  const maskBias = tf.tidy(() => tf.reshape(tf.mul(tf.sub(1, mask), -1e9), [B, 1, 1, S]));
  const target = tf.randomNormal([B, H], 0, 1, 'float32', 99);
  // PyTorch's AdamW defaults to weight decay on every parameter: no no-decay groups here either
  const opt = new AdamW(params, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, groups: [] });
  const loss = () => tf.mean(tf.square(tf.sub(encoderForward(params, o.bert, ids, maskBias, mask), target))) as tf.Scalar;
  const p = (k: string) => params.get(k)!;
  const keys = [...params.keys()];
  const vars = keys.map(p);
  return {
    describe: `BERT-base-size training step: ${L} layers, hidden ${H}, ${NH} heads, ffn ${FF}, batch ${B} x seq ${S}, vocab ${V}, AdamW`,
    step() {
      tf.tidy(() => {
        const { value, grads } = variableGradsLean(loss, vars);
        opt.step(new Map(keys.map((k) => [k, grads[`${prefix}${k}`]])), 1e-4, { disposeGrads: true });
        value.dataSync();
      });
    },
    dispose() {
      opt.dispose();
      tf.dispose([...vars, ids, mask, maskBias, target]);
    },
  };
}

/** CLIP ViT-B/16 image tower (HF CLIPVisionModel + visual projection) with a minimal text tower. */
function vitForward(): Ours {
  const config = {
    model_type: 'clip',
    projection_dim: 512,
    logit_scale_init_value: 2.6592,
    text_config: { model_type: 'clip_text_model', vocab_size: 64, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8, projection_dim: 512, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, pad_token_id: 1, bos_token_id: 62, eos_token_id: 63 },
    vision_config: { model_type: 'clip_vision_model', hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, image_size: 224, patch_size: 16, num_channels: 3, projection_dim: 512, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5 },
  };
  const model = new CLIPModel(config, { seed: 0, distribution: 'uniform' });
  const pixels = tf.randomNormal([8, 3, 224, 224], 0, 1, 'float32', 1) as tf.Tensor4D;
  return {
    describe: 'CLIP ViT-B/16 image features, batch 8 at 224x224 (inference)',
    step() {
      const f = model.getImageFeatures(pixels);
      f.dataSync();
      f.dispose();
    },
    dispose() {
      model.dispose();
      pixels.dispose();
    },
  };
}

/** AltCLIP-L with random weights: one 224x224 image and one 77-token text. */
function altclipLarge(wasm: boolean): Ours {
  const config = getModelConfig('altclip-large') as AltCLIPConfig;
  const model = new AltCLIPModel(config, { seed: 0, distribution: 'uniform', embeddingsOnHost: wasm });
  const S = 77;
  const ids = [Array.from({ length: S }, (_, i) => (i === 0 ? 0 : i === S - 1 ? 2 : 3 + (((i - 1) * 7919) % 250000)))];
  const mask = [Array(S).fill(1)];
  const pixels = tf.randomNormal([1, 3, 224, 224], 0, 1, 'float32', 1) as tf.Tensor4D;
  return {
    describe: 'AltCLIP-L (BAAI/AltCLIP shapes, random weights): embed one 224x224 image + one 77-token text',
    step() {
      const t = model.getTextFeatures(ids as never, mask as never);
      const i = model.getImageFeatures(pixels);
      t.dataSync();
      i.dataSync();
      tf.dispose([t, i]);
    },
    dispose() {
      model.dispose();
      pixels.dispose();
    },
  };
}

/** AltCLIP-L, random init, every parameter trainable: one AdamW step on 4 images + 4 captions (as altclip_finetune_case). */
function altclipLargeFinetune(): Ours {
  const model = new AltCLIPModel(getModelConfig('altclip-large') as AltCLIPConfig, { seed: 0, distribution: 'uniform' });
  const named = model.namedParameters();
  const keys = [...named.keys()];
  const vars = keys.map((k) => named.get(k)!);
  const opt = new AdamW(named, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1, groups: [] });
  const B = 4, S = 16;
  const ids = tf.tensor2d(captionIds(B, S, 0), [B, S], 'int32');
  const mask = tf.ones([B, S], 'int32') as tf.Tensor2D;
  const pixels = tf.randomNormal([B, 3, 224, 224], 0, 1, 'float32', 1) as tf.Tensor4D;
  const loss = () => clipLoss(model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels, training: true }).logitsPerText);
  return {
    describe: `AltCLIP-L fine-tune step (${(vars.reduce((a, v) => a + v.size, 0) / 1e6).toFixed(0)}M parameters, all trainable): 4 images 224x224 + 4 captions x 16 tokens, text dropout, CLIP loss, AdamW`,
    step() {
      tf.tidy(() => {
        const { value, grads } = valueAndGrads(loss, vars);
        opt.step(new Map(keys.map((k, i) => [k, grads[i]!])), 1e-4, { disposeGrads: true });
        value.dataSync();
      });
    },
    dispose() {
      opt.dispose();
      model.dispose();
      tf.dispose([ids, mask, pixels]);
    },
  };
}

/** Stage-1 distillation step at paper size: XLM-R-large student vs CLIP ViT-L/14 text teacher (as distill_large_case). */
function distillLarge(): Ours {
  const cfg = getModelConfig('altclip-large') as AltCLIPConfig;
  const studentSpecs = altclipSpecs(cfg).filter((s) => s.name.startsWith('text_model.'));
  const student = randomVariables(studentSpecs, { seed: 0, distribution: 'uniform' });
  const keys = [...student.keys()];
  const vars = keys.map((k) => student.get(k)!);
  const opt = new AdamW(student, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, groups: [] });
  const teacher = new CLIPTextModelWithProjection(
    { model_type: 'clip_text_model', vocab_size: 49408, hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, max_position_embeddings: 77, projection_dim: 768, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, pad_token_id: 1, bos_token_id: 49406, eos_token_id: 49407 },
    { seed: 1, distribution: 'uniform', trainable: false },
  );
  const B = 16, S = 64;
  const ids = tf.tensor2d(captionIds(B, S, 1), [B, S], 'int32');
  const mask = tf.ones([B, S], 'int32') as tf.Tensor2D;
  const tIds: number[][] = Array.from({ length: B }, (_, b) => [49406, ...Array.from({ length: S - 2 }, (_, i) => ((b * 131 + i * 17) % 49000) + 1), 49407]);
  const tc = cfg.text_config;
  const features = () => {
    const p = student as unknown as Map<string, tf.Tensor>;
    const last = xlmrForward(p, 'text_model.roberta.', tc, ids, mask, { training: true }).lastHiddenState;
    const cls = tf.reshape(tf.slice(last, [0, 0, 0], [B, 1, tc.hidden_size]), [B, tc.hidden_size]);
    return linear(layerNorm(cls, param(p, 'text_model.pre_LN.weight'), param(p, 'text_model.pre_LN.bias'), tc.layer_norm_eps), param(p, 'text_model.transformation.weight'), param(p, 'text_model.transformation.bias'));
  };
  return {
    describe: `stage-1 distillation step: XLM-R-large student (${(vars.reduce((a, v) => a + v.size, 0) / 1e6).toFixed(0)}M, trainable) vs CLIP ViT-L/14 text teacher (frozen), batch ${B} x ${S} tokens, MSE, AdamW`,
    step() {
      tf.tidy(() => {
        const target = teacher.forward({ inputIds: tIds }).pooledOutput; // no gradient: outside the recorded function
        const { value, grads } = valueAndGrads(() => tf.mean(tf.square(tf.sub(features(), target))) as tf.Scalar, vars);
        opt.step(new Map(keys.map((k, i) => [k, grads[i]!])), 1e-4, { disposeGrads: true });
        value.dataSync();
      });
    },
    dispose() {
      opt.dispose();
      teacher.dispose();
      tf.dispose([...vars, ids, mask]);
    },
  };
}

/** Caption token ids as caption_ids() in vs_pytorch.py: <s> ... </s>, no padding. */
function captionIds(B: number, S: number, seed: number): number[][] {
  return Array.from({ length: B }, (_, b) => [0, ...Array.from({ length: S - 2 }, (_, i) => ((b * 104729 + i * 7919 + seed) % 250000) + 3), 2]);
}

// ------------------------------------------------------------------------------------------ driver
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const GiB = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

/** Our side of case `c` in the precision asked for: its step runs inside the precision's autocast. */
function build(o: Opts, c: CaseName, wasm: boolean): Ours {
  const precision = getPrecision(o.precision);
  const ours = BUILDERS[c](o, wasm);
  if (o.precision === 'fp32') return ours;
  return { ...ours, describe: `${ours.describe}; ${precision.support().line}`, step: () => precision.autocast(() => ours.step()) };
}

const BUILDERS: Record<CaseName, (o: Opts, wasm: boolean) => Ours> = {
  'bert-train': (o) => bertTrain(o),
  'vit-forward': () => vitForward(),
  'altclip-large': (_, wasm) => altclipLarge(wasm),
  'altclip-large-finetune': () => altclipLargeFinetune(),
  'distill-large': () => distillLarge(),
};

/** Our side of a case on one backend. */
interface Side {
  backend: string;
  ours: Ours;
  buildMs: number;
  /** How that backend runs (threads, fused kernels, native, TensorFlow version). */
  note: string;
}

/** Sets up `backend` (the best available when undefined) and builds the case on it. */
async function buildSide(o: Opts, c: CaseName, backend: BackendName | undefined): Promise<Side> {
  const choice = await setupBackend({ backend: backend ?? 'auto', threads: o.threads });
  if (!o.native) (require('@altclip/native') as { unregisterNativeKernels(): void }).unregisterNativeKernels();
  setFusedKernels(o.fused);
  const info = backendInfo();
  const t0 = performance.now();
  const ours = build(o, c, choice.name === 'wasm');
  const buildMs = performance.now() - t0;
  const how = [
    choice.name,
    info.wasm ? `wasm ${info.wasm.threads} thread(s)` : undefined,
    info.tensorflow && choice.name === 'tensorflow' ? `TensorFlow ${info.tensorflow.tensorflow} on ${info.tensorflow.device}, ${info.tensorflow.threads} intra-op thread(s)` : undefined,
    `fused kernels: ${o.fused ? 'on' : 'off'}`,
    choice.name === 'wasm' || choice.name === 'native'
      ? `native: ${info.native.active && o.native ? info.native.note.replace(/; on wasm:.*/, '') : `off (${o.native ? info.native.note : '--no-native'})`}`
      : undefined,
  ];
  return { backend: choice.name, ours, buildMs, note: how.filter(Boolean).join(', ') };
}

/** Our backends for this run: --backends, or the best available one. */
const sidesWanted = (o: Opts): Array<BackendName | undefined> => (o.backends.length ? o.backends : [undefined]);
/** ' on <backend>' in RESULT lines when --backends names them (the single-backend lines stay as they were). */
const on = (o: Opts, side: Side) => (o.backends.length ? ` on ${side.backend}` : '');

/** Times `n` steps of one side on its own backend (the other sides' tensors stay where they are). */
async function timeSteps(side: Side, n: number): Promise<number[]> {
  await tf.setBackend(side.backend);
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    side.ours.step();
    ts.push(performance.now() - t);
  }
  return ts;
}

/** The large cases: all of PyTorch's steps (then its process exits), then all of ours, backend after backend. */
async function runSequential(o: Opts, c: CaseName): Promise<void> {
  const py = await startPython(o, c);
  console.log(`\n== ${c}: PyTorch ${py.ready.torch}, ${py.ready.threads} thread(s), build ${Number(py.ready.build_s ?? 0).toFixed(1)} s; sequential (both sides do not fit in memory together)`);
  const pyWarm = await py.run(o.warmup);
  const pyMs = await py.run(o.steps * o.rounds);
  const pyPeak = await py.quit();
  console.log(`  PyTorch: warm-up ${pyWarm.map((x) => x.toFixed(0)).join(', ')} ms; steps ${pyMs.map((x) => x.toFixed(0)).join(', ')} ms`);
  for (const backend of sidesWanted(o)) {
    const side = await buildSide(o, c, backend);
    console.log(`  ours: ${side.note}; ${side.ours.describe}; build ${(side.buildMs / 1000).toFixed(1)} s`);
    const warm = await timeSteps(side, o.warmup);
    fallbackKernelUse(true);
    const oursMs = await timeSteps(side, o.steps * o.rounds);
    console.log(`  ours: warm-up ${warm.map((x) => x.toFixed(0)).join(', ')} ms; steps ${oursMs.map((x) => x.toFixed(0)).join(', ')} ms`);
    printFallbacks(side.backend);
    side.ours.dispose();
    const ourPeak = process.resourceUsage().maxRSS * 1024;
    const m = median(oursMs);
    const pm = median(pyMs);
    const [timeTarget, rssTarget] = o.reference[0] === 'transformers' ? [0.8, 1.0] : [1.0, 1.1];
    console.log(`RESULT ${c} ${o.precision}${on(o, side)} (PyTorch ${py.ready.torch}): ours ${m.toFixed(0)} ms, PyTorch ${pm.toFixed(0)} ms, ratio ${(m / pm).toFixed(2)}x (median of ${oursMs.length} steps each after ${o.warmup} warm-up; target <= ${timeTarget}x)`);
    console.log(`RESULT ${c} ${o.precision}${on(o, side)} peak RSS (PyTorch ${py.ready.torch}): ours ${GiB(ourPeak)}${o.backends.length > 1 ? ' (this process so far)' : ''}, PyTorch ${GiB(pyPeak)}, ratio ${(ourPeak / pyPeak).toFixed(2)}x (target <= ${rssTarget}x)`);
  }
}

/** The cpu kernels the native backend fell back to in the measured steps (a training step should use none). */
function printFallbacks(backend: string): void {
  if (backend !== 'native') return;
  const used = [...fallbackKernelUse().entries()].sort((a, b) => b[1].ms - a[1].ms);
  console.log(`  fallback (JS cpu) kernels in the measured steps: ${used.length ? used.map(([k, u]) => `${k} x${u.calls} ${u.ms.toFixed(0)} ms`).join(', ') : 'none'}`);
}

/** One round of every side's steps; the last round is profiled with --profile. */
async function roundOfOurs(o: Opts, sides: Side[], last: boolean): Promise<number[][]> {
  const out: number[][] = [];
  for (const side of sides) {
    await tf.setBackend(side.backend);
    if (o.profile && last) fallbackKernelUse(true);
    const stop = o.profile && last ? profileKernels(side.backend, (ms) => `  our kernel time on ${side.backend} (profiled steps, ${ms.toFixed(0)} ms in kernels):`, 18) : undefined;
    out.push(await timeSteps(side, o.steps));
    if (stop) {
      stop();
      printFallbacks(side.backend);
    }
  }
  return out;
}

async function runCase(o: Opts, c: CaseName): Promise<void> {
  if (SEQUENTIAL.has(c)) return runSequential(o, c);
  const py = await startPython(o, c);
  const sides: Side[] = [];
  for (const backend of sidesWanted(o)) sides.push(await buildSide(o, c, backend));
  console.log(`\n== ${c}: ${sides[0].ours.describe}`);
  for (const side of sides) console.log(`  ours: ${side.note}`);
  console.log(`  PyTorch ${py.ready.torch}, ${py.ready.threads} thread(s), OMP_WAIT_POLICY=PASSIVE; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}`);

  // warm-up (both sides), then rounds alternating which side goes first
  await py.run(o.warmup);
  for (const side of sides) await timeSteps(side, o.warmup);
  const oursMs: number[][] = sides.map(() => []);
  const pyMs: number[] = [];
  const ratios: number[][] = sides.map(() => []);
  for (let r = 0; r < o.rounds; r++) {
    let a: number[][], b: number[];
    if (r % 2 === 0) {
      b = await py.run(o.steps);
      a = await roundOfOurs(o, sides, r === o.rounds - 1);
    } else {
      a = await roundOfOurs(o, sides, r === o.rounds - 1);
      b = await py.run(o.steps);
    }
    pyMs.push(...b);
    a.forEach((ms, i) => {
      oursMs[i].push(...ms);
      ratios[i].push(median(ms) / median(b));
    });
    const cols = a.map((ms, i) => `ours${sides.length > 1 ? ` [${sides[i].backend}]` : ''} ${ms.map((x) => x.toFixed(0)).join(', ')} ms`);
    console.log(`  round ${r + 1}: ${cols.join(' | ')} | PyTorch ${b.map((x) => x.toFixed(0)).join(', ')} ms | ratio ${a.map((ms) => (median(ms) / median(b)).toFixed(2)).join(' / ')}x`);
  }
  for (const side of sides) side.ours.dispose();
  const pyPeak = await py.quit();
  const ourPeak = process.resourceUsage().maxRSS * 1024;
  const pm = median(pyMs);
  sides.forEach((side, i) => {
    const m = median(oursMs[i]);
    console.log(`RESULT ${c} ${o.precision}${on(o, side)} (PyTorch ${py.ready.torch}): ours ${m.toFixed(0)} ms, PyTorch ${pm.toFixed(0)} ms, ratio ${(m / pm).toFixed(2)}x (median of ${oursMs[i].length} steps each; per-round ratios ${ratios[i].map((x) => x.toFixed(2)).join(', ')}; lower is better, target <= ${TIME_TARGET[c] ?? 1.0}x)`);
  });
  const rssNote = c === 'vit-forward' ? ' (process totals)' : c === 'bert-train' ? ' (target <= 1.0x)' : ' (target <= 1.3x)';
  const builds = sides.map((side) => `${sides.length > 1 ? `${side.backend} ` : ''}${(side.buildMs / 1000).toFixed(1)} s`).join(', ');
  console.log(`RESULT ${c} ${o.precision} peak RSS (PyTorch ${py.ready.torch}): ours ${GiB(ourPeak)}${sides.length > 1 ? ` (one process, ${sides.map((x) => x.backend).join(' + ')})` : ''}, PyTorch ${GiB(pyPeak)}, ratio ${(ourPeak / pyPeak).toFixed(2)}x${rssNote}; our build ${builds}`);
}

/** --reference's list for case c and interpreter py, or (default) both where transformers imports there. */
function references(o: Opts, c: CaseName, py: string): Array<'hand' | 'transformers'> {
  if (o.reference.length) return o.reference.filter((r) => r === 'hand' || HF_CASES.has(c));
  if (!HF_CASES.has(c)) return ['hand'];
  const r = spawnSync(py, ['-c', 'import transformers'], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`vs-pytorch: transformers does not import with ${py}, so no transformers reference for ${c} (pip install transformers)`);
    return ['hand'];
  }
  return ['hand', 'transformers'];
}

/** The Pythons to measure against: --python's list, else every distinct PyTorch among the usual places. */
function pythons(o: Opts): { list: string[]; notes: string[] } {
  const given = o.python ? o.python.split(',').filter(Boolean) : [];
  const candidates = given.length ? given : ['/usr/bin/python3', 'python3', '/opt/torch2/bin/python'];
  const seen = new Map<string, string>();
  const notes: string[] = [];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import sys, torch; print(sys.executable, torch.__version__)'], { encoding: 'utf8' });
    if (r.status !== 0) {
      if (given.length) notes.push(`PyTorch is not importable with ${py}: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-1)[0]}`);
      continue;
    }
    const key = r.stdout.trim();
    if (![...seen.values()].includes(key)) seen.set(py, key);
  }
  if (!seen.size) notes.push('no PyTorch found (apt-get install -y python3-torch, or a 2.x wheel: pip install --no-index --find-links /opt/wheels torch; then --python)');
  return { list: [...seen.keys()], notes };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const { list, notes } = pythons(o);
  for (const n of notes) console.log(`vs-pytorch: ${n}`);
  if (!list.length) {
    process.exitCode = 2;
    return;
  }
  const runs: Array<{ c: CaseName; py: string; ref: 'hand' | 'transformers' }> = [];
  for (const c of o.cases)
    for (const py of list)
      for (const ref of references(o, c, py)) runs.push({ c, py, ref });
  if (runs.length > 1) {
    // one node process per case, PyTorch and reference, so each peak RSS is that case's alone
    const flags = new Set(['--case', '--python', '--reference']);
    const rest = process.argv.slice(2).filter((a, i, all) => !flags.has(a) && !flags.has(all[i - 1]));
    for (const r of runs) {
      const p = spawnSync(process.execPath, [process.argv[1], '--case', r.c, '--python', r.py, '--reference', r.ref, ...rest], { stdio: 'inherit' });
      if (p.status !== 0) process.exitCode = p.status ?? 1;
    }
    return;
  }
  if (!runs.length) throw new Error(`--reference transformers has no ${o.cases[0]} case (only ${[...HF_CASES].join(', ')})`);
  o.reference = [runs[0].ref];
  o.python = list[0];
  console.log(`vs-pytorch ${new Date().toISOString()}: ${o.threads} thread(s) each side, ${o.rounds} rounds x ${o.steps} steps after ${o.warmup} warm-up, ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  await runCase(o, o.cases[0]);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
