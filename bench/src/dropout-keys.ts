/**
 * The cost of per-sample keyed dropout (issue 19: masks keyed by (seed, step, global sample index) so results do not
 * depend on the number of ranks). Since the MPI port every training step, one process included, runs its features
 * under withDropoutKeys: dropout masks are drawn in JS per sample (@altclip/models ops.ts keyedKeepMask) and attention
 * with dropout leaves the fused native attention kernel for the composed ops. This bench times one training step
 * (computeGradients + AdamW) of a CLIP-loss task whose text tower has the bert-train shape (XLM-R layout, 4 layers,
 * 768/12/3072, batch 8 x seq 64, vocab 8192, hidden and attention dropout 0.1; image features given, as with a frozen
 * image tower) three ways in the same process, alternating per round:
 *  - keyed:   the trainer's path (keys from sampleKey, as parallel/data-parallel.ts computes them);
 *  - unkeyed: the pre-MPI path (no keys: the native dropout kernel and fused attention with its own mask);
 *  - off:     dropout off (--no-dropout), for scale.
 * The ratio is the median over rounds of each round's keyed/unkeyed step-time ratio.
 *
 *   npm run bench -- dropout-keys [--steps 4] [--warmup 1] [--rounds 3] [--layers 4] [--batch 8] [--seq 64]
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { AltCLIPConfig, AltCLIPModel, dropout, getModelConfig, withDropoutKeys } from '@altclip/models';
import { AdamW, ClipBatch, clipParams, clipTask, computeGradients, FeatureTask, sampleKey } from '@altclip/train';
import { encoderBatch } from './_shared-encoder';

type Variant = 'keyed' | 'unkeyed' | 'off';
const VARIANTS: Variant[] = ['keyed', 'unkeyed', 'off'];

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

/** Step times (ms) of `steps` steps after `warmup`, one variant. */
function timeSteps(v: Variant, tasks: Record<'on' | 'off', FeatureTask<ClipBatch>>, params: Map<string, tf.Variable>, batch: ClipBatch, o: ReturnType<typeof parse>, round: number): number[] {
  const opt = new AdamW(params, { weightDecay: 0.05 });
  const times: number[] = [];
  try {
    for (let s = 0; s < o.warmup + o.steps; s++) {
      const step = round * 1000 + s;
      const t0 = performance.now();
      const g = computeGradients(v === 'off' ? tasks.off : tasks.on, params, [batch], { step, seed: step, training: true }, {
        keys: v === 'keyed' ? (_, n) => Array.from({ length: n }, (_, k) => sampleKey(0, step, k)) : undefined,
      });
      if (g.grads.size !== params.size || !Number.isFinite(g.loss)) throw new Error(`${v}: step ${s} gave ${g.grads.size}/${params.size} gradients, loss ${g.loss}`);
      opt.step(g.grads, 1e-5, { disposeGrads: true });
      tf.tidy(() => params.get('logit_scale')?.dataSync()); // the step has finished
      if (s >= o.warmup) times.push(performance.now() - t0);
    }
  } finally {
    opt.dispose();
  }
  return times;
}

/**
 * Milliseconds of the forward dropout calls of one step alone (embeddings, then per layer attention probabilities
 * [B, 12, L, L] and two hidden [B, L, 768]), keyed (JS masks) and unkeyed (native kernel): how much of the keyed
 * step's extra time is the masks and how much the composed attention.
 */
function maskCost(o: ReturnType<typeof parse>): { keyed: number; unkeyed: number } {
  const hidden = tf.randomNormal([o.batch, o.seq, 768]);
  const probs = tf.randomUniform([o.batch, 12, o.seq, o.seq]);
  const keys = Array.from({ length: o.batch }, (_, k) => sampleKey(0, 0, k));
  const once = () => {
    const ys = [dropout(hidden, 0.1, true)];
    for (let l = 0; l < o.layers; l++) ys.push(dropout(probs, 0.1, true), dropout(hidden, 0.1, true), dropout(hidden, 0.1, true));
    for (const y of ys) y.dataSync();
    tf.dispose(ys);
  };
  const time = (f: () => void) => median(Array.from({ length: 5 }, () => ((t0) => (f(), performance.now() - t0))(performance.now())));
  once();
  const r = { keyed: time(() => withDropoutKeys(keys, once)), unkeyed: time(once) };
  tf.dispose([hidden, probs]);
  return r;
}

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
  const ms: Record<Variant, number[]> = { keyed: [], unkeyed: [], off: [] };
  const ratios: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const m = Object.fromEntries(VARIANTS.map((v) => [v, median(timeSteps(v, tasks, params, batch, o, r))])) as Record<Variant, number>;
    for (const v of VARIANTS) ms[v].push(m[v]);
    ratios.push(m.keyed / m.unkeyed);
    console.log(`  round ${r + 1}: keyed ${m.keyed.toFixed(0)} ms/step, unkeyed ${m.unkeyed.toFixed(0)} ms/step, dropout off ${m.off.toFixed(0)} ms/step (keyed/unkeyed ${(m.keyed / m.unkeyed).toFixed(2)}x)`);
  }
  console.log(
    `RESULT dropout-keys: keyed ${median(ms.keyed).toFixed(0)} ms/step, unkeyed ${median(ms.unkeyed).toFixed(0)} ms/step, dropout off ${median(ms.off).toFixed(0)} ms/step; ` +
      `keyed/unkeyed ${median(ratios).toFixed(2)}x (median of the rounds' ratios)`,
  );
  const mc = maskCost(o);
  console.log(`  forward dropout calls of one step alone: keyed (JS masks) ${mc.keyed.toFixed(1)} ms, unkeyed (native kernel) ${mc.unkeyed.toFixed(1)} ms`);
  tf.dispose([batch.ids, batch.mask, batch.imageFeats!]);
  model.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
