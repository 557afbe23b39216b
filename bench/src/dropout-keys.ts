/**
 * The cost of per-sample keyed dropout (issue 19: masks keyed by (seed, step, global sample index) so results do not
 * depend on the number of ranks). Since the MPI port every training step, one process included, runs its features
 * under withDropoutKeys: dropout masks are drawn per sample, by the native kernels (AltclipDropout, and the fused
 * attention kernel for the attention probabilities) where they run, else in JS (@altclip/models ops.ts
 * keyedKeepMask, the same masks) with attention on the composed ops. This bench times one training step
 * (computeGradients + AdamW) of a CLIP-loss task whose text tower has the bert-train shape (XLM-R layout, 4 layers,
 * 768/12/3072, batch 8 x seq 64, vocab 8192, hidden and attention dropout 0.1; image features given, as with a frozen
 * image tower) four ways in the same process, alternating per round:
 *  - keyed:    the trainer's path (keys from sampleKey, as parallel/data-parallel.ts computes them), native masks;
 *  - keyed-js: the same keys with setNativeDropout(false): masks in JS and composed attention (the other backends'
 *              path, and the native one before the kernels took keys);
 *  - unkeyed:  the pre-MPI path (no keys: the native dropout kernel and fused attention with its own mask);
 *  - off:      dropout off (--no-dropout), for scale.
 * The ratios are medians over rounds of each round's keyed/unkeyed and keyed-js/unkeyed step-time ratios, in wall
 * time and in process CPU time (the steadier on a loaded machine).
 *
 *   npm run bench -- dropout-keys [--steps 4] [--warmup 1] [--rounds 3] [--layers 4] [--batch 8] [--seq 64]
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { AltCLIPConfig, AltCLIPModel, attention, dropout, getModelConfig, setNativeDropout, withDropoutKeys } from '@altclip/models';
import { AdamW, ClipBatch, clipParams, clipTask, computeGradients, FeatureTask, sampleKey } from '@altclip/train';
import { encoderBatch } from './_shared-encoder';

type Variant = 'keyed' | 'keyed-js' | 'unkeyed' | 'off';
const VARIANTS: Variant[] = ['keyed', 'keyed-js', 'unkeyed', 'off'];

function parse(argv: string[]) {
  const o = { steps: 4, warmup: 1, rounds: 3, layers: 4, batch: 8, seq: 64 };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z]+)$/.exec(argv[i]);
    if (argv[i] === '--help' || argv[i] === '-h') {
      console.log('see the comment at the top of bench/src/dropout-keys.ts');
      process.exit(0);
    }
    if (!m || !(m[1] in o)) throw new Error(`unknown argument '${argv[i]}' (see --help)`);
    const v = Number(argv[++i]);
    if (!Number.isInteger(v) || v < (m[1] === 'warmup' ? 0 : 1)) throw new Error(`${argv[i - 1]} must be a positive integer, got '${argv[i]}'`);
    o[m[1] as keyof typeof o] = v;
  }
  return o;
}

/** AltCLIP with the bert-train text tower (vocab 8192) and the small config's vision tower (unused: features given). */
function bertShapedModel(layers: number): AltCLIPModel {
  const cfg = getModelConfig('altclip-small') as AltCLIPConfig;
  const text = { ...cfg.text_config, vocab_size: 8192, hidden_size: 768, num_hidden_layers: layers, num_attention_heads: 12, intermediate_size: 3072, max_position_embeddings: 514, project_dim: 768 };
  return new AltCLIPModel({ ...cfg, projection_dim: 768, text_config: { ...text, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 }, vision_config: { ...cfg.vision_config, projection_dim: 768 } }, { seed: 0 });
}

type Clock = 'wall' | 'cpu';
type StepTimes = Record<Clock, number[]>;
const cpuMs = () => ((u) => (u.user + u.system) / 1000)(process.cpuUsage());

/** Step times (ms, wall and process CPU) of `steps` steps after `warmup`, one variant. */
function timeSteps(v: Variant, tasks: Record<'on' | 'off', FeatureTask<ClipBatch>>, params: Map<string, tf.Variable>, batch: ClipBatch, o: ReturnType<typeof parse>, round: number): StepTimes {
  const opt = new AdamW(params, { weightDecay: 0.05 });
  const times: StepTimes = { wall: [], cpu: [] };
  setNativeDropout(v !== 'keyed-js');
  try {
    for (let s = 0; s < o.warmup + o.steps; s++) {
      const step = round * 1000 + s;
      const [t0, c0] = [performance.now(), cpuMs()];
      const g = computeGradients(v === 'off' ? tasks.off : tasks.on, params, [batch], { step, seed: step, training: true }, {
        keys: v.startsWith('keyed') ? (_, n) => Array.from({ length: n }, (_, k) => sampleKey(0, step, k)) : undefined,
      });
      if (g.grads.size !== params.size || !Number.isFinite(g.loss)) throw new Error(`${v}: step ${s} gave ${g.grads.size}/${params.size} gradients, loss ${g.loss}`);
      opt.step(g.grads, 1e-5, { disposeGrads: true });
      tf.tidy(() => params.get('logit_scale')?.dataSync()); // the step has finished
      if (s >= o.warmup) {
        times.wall.push(performance.now() - t0);
        times.cpu.push(cpuMs() - c0);
      }
    }
  } finally {
    setNativeDropout(true);
    opt.dispose();
  }
  return times;
}

type Ways = { keyed: number; keyedJs: number; unkeyed: number };

/**
 * Median milliseconds of `once` three ways, interleaved per repetition (9): under `keys` with the native kernels,
 * under `keys` with setNativeDropout(false) (JS masks, composed attention), and without keys (native kernels).
 */
function threeWays(keys: number[], once: () => void): Ways {
  const js = () => {
    setNativeDropout(false);
    try {
      withDropoutKeys(keys, once);
    } finally {
      setNativeDropout(true);
    }
  };
  const ways: Record<keyof Ways, () => void> = { keyed: () => withDropoutKeys(keys, once), keyedJs: js, unkeyed: once };
  const ms: Record<keyof Ways, number[]> = { keyed: [], keyedJs: [], unkeyed: [] };
  once();
  for (let r = 0; r < 9; r++)
    for (const w of Object.keys(ways) as Array<keyof Ways>) {
      const t0 = performance.now();
      ways[w]();
      ms[w].push(performance.now() - t0);
    }
  return { keyed: median(ms.keyed), keyedJs: median(ms.keyedJs), unkeyed: median(ms.unkeyed) };
}

/**
 * The forward dropout calls of one step alone (embeddings, then per layer attention probabilities [B, 12, L, L] and
 * two hidden [B, L, 768]): the masks' share of the keyed step's time.
 */
function maskCost(o: ReturnType<typeof parse>): Ways {
  const hidden = tf.randomNormal([o.batch, o.seq, 768]);
  const probs = tf.randomUniform([o.batch, 12, o.seq, o.seq]);
  const r = threeWays(keysOf(o.batch), () => {
    const ys = [dropout(hidden, 0.1, true)];
    for (let l = 0; l < o.layers; l++) ys.push(dropout(probs, 0.1, true), dropout(hidden, 0.1, true), dropout(hidden, 0.1, true));
    for (const y of ys) y.dataSync();
    tf.dispose(ys);
  });
  tf.dispose([hidden, probs]);
  return r;
}

/** The attention of one step alone (per layer, q, k, v [B, L, 768], 12 heads, dropout 0.1, padding mask): forward + q/k/v gradients. */
function attentionCost(o: ReturnType<typeof parse>): Ways {
  const [q, k, v] = [1, 2, 3].map((s) => tf.randomNormal([o.batch, o.seq, 768], 0, 1, 'float32', s));
  const bias = tf.zeros([o.batch, 1, 1, o.seq]);
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(attention(a, b, c, 12, bias, { scaleQuery: false, dropout: 0.1, training: true })));
  const r = threeWays(keysOf(o.batch), () => {
    for (let l = 0; l < o.layers; l++) {
      const g = grads([q, k, v]);
      for (const t of g) t.dataSync();
      tf.dispose(g);
    }
  });
  tf.dispose([q, k, v, bias]);
  return r;
}

const keysOf = (n: number) => Array.from({ length: n }, (_, k) => sampleKey(0, 0, k));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const be = await setupBackend();
  const model = bertShapedModel(o.layers);
  const { params } = clipParams({ lockImage: true }, model, () => undefined);
  const { ids, mask } = encoderBatch({ layers: o.layers, hidden: 768, heads: 12, ffn: 3072, batch: o.batch, seq: o.seq, vocab: 8192 });
  const batch: ClipBatch = {
    ids: tf.tensor2d(ids, [o.batch, o.seq], 'int32'),
    mask: tf.tensor2d(mask, [o.batch, o.seq], 'int32'),
    imageFeats: tf.randomNormal([o.batch, 768], 0, 1, 'float32', 7) as tf.Tensor2D,
  };
  const tasks = { on: clipTask(model, { imageFrozen: true }), off: clipTask(model, { imageFrozen: true, dropout: false }) };
  console.log(
    `dropout-keys ${new Date().toISOString()}: backend ${be.name} (ALTCLIP_NATIVE_THREADS ${process.env.ALTCLIP_NATIVE_THREADS ?? 'unset'}), ${os.cpus().length} CPUs, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}; ` +
      `text tower ${o.layers} x 768/12/3072, batch ${o.batch} x seq ${o.seq}, dropout 0.1; ${o.warmup} warm-up + ${o.steps} timed steps per variant, ${o.rounds} rounds`,
  );
  // Wall and process CPU time (all threads) per step: on a loaded machine the CPU time is the steadier of the two.
  const clocks = ['wall', 'cpu'] as const;
  const ms = Object.fromEntries(clocks.map((c) => [c, Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]]))])) as Record<Clock, Record<Variant, number[]>>;
  const ratios = Object.fromEntries(clocks.map((c) => [c, { keyed: [] as number[], js: [] as number[] }])) as Record<Clock, { keyed: number[]; js: number[] }>;
  for (let r = 0; r < o.rounds; r++) {
    const t = Object.fromEntries(VARIANTS.map((v) => [v, timeSteps(v, tasks, params, batch, o, r)])) as Record<Variant, StepTimes>;
    for (const c of clocks) {
      const m = Object.fromEntries(VARIANTS.map((v) => [v, median(t[v][c])])) as Record<Variant, number>;
      for (const v of VARIANTS) ms[c][v].push(m[v]);
      ratios[c].keyed.push(m.keyed / m.unkeyed);
      ratios[c].js.push(m['keyed-js'] / m.unkeyed);
      console.log(
        `  round ${r + 1} (${c}): keyed ${m.keyed.toFixed(0)} ms/step, keyed-js ${m['keyed-js'].toFixed(0)}, unkeyed ${m.unkeyed.toFixed(0)}, dropout off ${m.off.toFixed(0)} ` +
          `(keyed/unkeyed ${(m.keyed / m.unkeyed).toFixed(2)}x, keyed-js/unkeyed ${(m['keyed-js'] / m.unkeyed).toFixed(2)}x)`,
      );
    }
  }
  for (const c of clocks) {
    const m = ms[c];
    console.log(
      `RESULT dropout-keys (${c} time): keyed ${median(m.keyed).toFixed(0)} ms/step, keyed-js ${median(m['keyed-js']).toFixed(0)} ms/step, unkeyed ${median(m.unkeyed).toFixed(0)} ms/step, dropout off ${median(m.off).toFixed(0)} ms/step; ` +
        `keyed/unkeyed ${median(ratios[c].keyed).toFixed(2)}x, keyed-js/unkeyed ${median(ratios[c].js).toFixed(2)}x (medians of the rounds' ratios)`,
    );
  }
  const show = (w: Ways) => `keyed (native kernels) ${w.keyed.toFixed(1)} ms, keyed-js ${w.keyedJs.toFixed(1)} ms, unkeyed ${w.unkeyed.toFixed(1)} ms`;
  console.log(`  forward dropout calls of one step alone: ${show(maskCost(o))}`);
  console.log(`  attention of one step alone (forward + gradients, ${o.layers} layers): ${show(attentionCost(o))}`);
  tf.dispose([batch.ids, batch.mask, batch.imageFeats!]);
  model.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
