/**
 * One short training run (the real trainer: gradients, padding-row masking, global-norm clipping, AdamW,
 * logit_scale clamp) per stage on tiny models, for checking which kernels a training step runs on a backend.
 * Stages: distill (AltCLIP XLM-R text tower, MSE + cosine term, dropout, with and without accumulation),
 * contrastive (frozen image tower, features given), finetune (whole AltCLIP incl. the ViT, dropout, accumulation,
 * activation checkpointing),
 * CLIP (CLIP text transformer + ViT, contrastive) and a classifier cross-entropy head (one-hot labels).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fixture } from '@altclip/test-utils';
import { AltCLIPModel, CLIPModel, distillationLoss, getModelConfig } from '@altclip/models';
import { clipTask, paddingRows, selectTrainable, train, FeatureTask, TrainConfig } from '@altclip/train';

export interface StageRun {
  name: string;
  run(): Promise<number[]>;
}

const B = 4;
const L = 7;

/** Deterministic ids [n, L] (BOS 0, EOS 2, others in [3, vocab)) with right padding (pad id 1) on rows after the first, and the mask. */
function textBatch(n: number, vocab: number, seed: number): { ids: tf.Tensor2D; mask: tf.Tensor2D } {
  const ids = new Int32Array(n * L);
  const mask = new Int32Array(n * L);
  for (let b = 0; b < n; b++) {
    const len = b === 0 ? L : L - 1 - (b % 3);
    for (let s = 0; s < L; s++) {
      ids[b * L + s] = s === 0 ? 0 : s === len - 1 ? 2 : s < len ? 3 + ((b * 31 + s * 17 + seed * 7) % (vocab - 3)) : 1;
      mask[b * L + s] = s < len ? 1 : 0;
    }
  }
  return { ids: tf.tensor2d(ids, [n, L], 'int32'), mask: tf.tensor2d(mask, [n, L], 'int32') };
}

/** A batch's random-data seed: never 0, which tfjs would replace with Math.random() (a different batch each run). */
const seedOf = (idx: number[]) => 1 + idx[0];

const cfg = (o: Partial<TrainConfig>): TrainConfig => ({ batchSize: B, steps: 2, lr: 1e-3, warmup: 0, schedule: 'constant', weightDecay: 0.1, gradClip: 1e-3, logEvery: 1, ...o }) as TrainConfig;
const quiet = { progress: false, log: () => undefined };

type ClipModel = AltCLIPModel | CLIPModel;

async function clipRun(model: ClipModel, o: { imageFrozen: boolean; accum?: number; dropout?: boolean; checkpointing?: boolean }, vocab: number): Promise<number[]> {
  model.gradientCheckpointingEnable(o.checkpointing === true);
  const all = model.namedParameters();
  const params = selectTrainable(all, { lockImage: o.imageFrozen });
  const S = (model.config as any).vision_config.image_size as number;
  const feats = o.imageFrozen ? tf.tidy(() => model.getImageFeatures(tf.randomNormal([B, 3, S, S], 0, 1, 'float32', 5) as tf.Tensor4D)) : undefined;
  try {
    const r = await train({
      task: clipTask(model, { imageFrozen: o.imageFrozen, dropout: o.dropout }),
      params,
      allParams: all,
      data: {
        size: B * 2,
        batch: (idx) => ({
          ...textBatch(idx.length, vocab, idx[0]),
          ...(o.imageFrozen ? { imageFeats: tf.slice(feats!, 0, idx.length) as tf.Tensor2D } : { pixels: tf.randomNormal([idx.length, 3, S, S], 0, 1, 'float32', seedOf(idx)) as tf.Tensor4D }),
        }),
      },
      config: cfg({ accumSteps: o.accum ?? 1, gradClip: 1e-3 }),
      paddingRows: paddingRows([...params.keys()], (model.config as any).text_config?.pad_token_id),
      ...quiet,
    });
    return r.losses;
  } finally {
    feats?.dispose();
  }
}

export function stageRuns(): StageRun[] {
  const tiny = fixture('altclip-tiny');
  return [
    {
      name: 'distill (XLM-R text tower, MSE, dropout, accumulation 2)',
      async run() {
        const model = await AltCLIPModel.fromPretrained(tiny);
        try {
          const all = model.namedParameters();
          const params = selectTrainable(all, { lockImage: true, freeze: [/^text_projection\./, /^logit_scale$/] });
          const D = model.config.text_config.project_dim;
          const task: FeatureTask<{ ids: tf.Tensor2D; mask: tf.Tensor2D; target: tf.Tensor2D }> = {
            features: (b, ctx) => [model.textFeaturesForDistillation(b.ids, b.mask, { training: ctx.training }), tf.clone(b.target)],
            constantFeatures: [1],
            loss: ([s, t]) => {
              const loss = distillationLoss(s, t);
              const cos = tf.tidy(() => tf.mean(tf.sum(tf.mul(tf.div(s, tf.norm(s, 2, 1, true)), tf.div(t, tf.norm(t, 2, 1, true))), 1)) as tf.Scalar);
              return { loss, terms: { mse: loss, cosine: cos } };
            },
          };
          const losses: number[] = [];
          for (const accum of [1, 2]) {
            const r = await train({
              task,
              params,
              allParams: all,
              data: { size: B * 2, batch: (idx) => ({ ...textBatch(idx.length, model.config.text_config.vocab_size, idx[0]), target: tf.randomNormal([idx.length, D], 0, 1, 'float32', seedOf(idx)) as tf.Tensor2D }) },
              config: cfg({ accumSteps: accum }),
              paddingRows: paddingRows([...params.keys()], model.config.text_config.pad_token_id),
              ...quiet,
            });
            losses.push(...r.losses);
          }
          return losses;
        } finally {
          model.dispose();
        }
      },
    },
    {
      name: 'contrastive (AltCLIP, image tower frozen)',
      async run() {
        const model = await AltCLIPModel.fromPretrained(tiny);
        try {
          return await clipRun(model, { imageFrozen: true }, model.config.text_config.vocab_size);
        } finally {
          model.dispose();
        }
      },
    },
    {
      name: 'finetune (AltCLIP, every tower trainable, dropout, accumulation 2, gradient checkpointing)',
      async run() {
        const model = await AltCLIPModel.fromPretrained(tiny);
        try {
          return await clipRun(model, { imageFrozen: false, accum: 2, checkpointing: true }, model.config.text_config.vocab_size);
        } finally {
          model.dispose();
        }
      },
    },
    {
      name: 'CLIP (CLIP text transformer + ViT, contrastive)',
      async run() {
        const base = getModelConfig('clip-demo-tiny') as any;
        const model = new CLIPModel({ ...base, text_config: { ...base.text_config, vocab_size: 512, bos_token_id: 0, eos_token_id: 2 } }, { seed: 3 });
        try {
          return await clipRun(model, { imageFrozen: false }, 512);
        } finally {
          model.dispose();
        }
      },
    },
    {
      name: 'classifier cross-entropy (ViT features x class weights, one-hot labels)',
      async run() {
        const model = await AltCLIPModel.fromPretrained(tiny);
        const classes = 5;
        const head = tf.tidy(() => tf.variable(tf.randomNormal([model.config.projection_dim, classes], 0, 0.1, 'float32', 9), true, 'cls_head')); // the initial value freed
        try {
          const all = model.namedParameters();
          const params = new Map([...selectTrainable(all, { lockImage: false }), ['cls_head', head]].filter(([k]) => !String(k).startsWith('text_')) as Array<[string, tf.Variable]>);
          const S = model.config.vision_config.image_size;
          const task: FeatureTask<{ pixels: tf.Tensor4D; labels: tf.Tensor1D }> = {
            features: (b, ctx) => [model.getImageFeatures(b.pixels, { training: ctx.training }), tf.clone(b.labels)],
            constantFeatures: [1],
            loss: ([f, y]) => {
              const logits = tf.matMul(f as tf.Tensor2D, head);
              const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(y as tf.Tensor1D, classes), logits) as tf.Scalar;
              const acc = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32')) as tf.Scalar;
              return { loss, terms: { acc } };
            },
          };
          const r = await train({
            task,
            params,
            data: { size: B * 2, batch: (idx) => ({ pixels: tf.randomNormal([idx.length, 3, S, S], 0, 1, 'float32', seedOf(idx)) as tf.Tensor4D, labels: tf.tensor1d(idx.map((i) => i % classes), 'int32') }) },
            config: cfg({ accumSteps: 1 }),
            ...quiet,
          });
          return r.losses;
        } finally {
          head.dispose();
          model.dispose();
        }
      },
    },
  ];
}
