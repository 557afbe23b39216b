/** The step and optimizer phases: the step's gradient, its checks, padding rows, clipping, AdamW and the task's hook. */
import * as tf from '@tensorflow/tfjs-core';
import { hashInts } from '@altclip/backend';
import type { AdamW } from '../adamw';
import type { Precision } from '@altclip/models';
import { FeatureTask, globalGradNorm } from '../grads';
import { maskGradRows } from '../params';
import { NonFiniteLossError, Parallel, TrainConfig } from './types';

export interface StepOutcome {
  loss: number;
  terms: Record<string, number>;
  /** Global gradient norm before clipping. */
  norm: number;
}

/**
 * One optimizer step on `micro` (this process's micro-batches of the step's global batch). Dropout and other
 * randomness are seeded by (run seed, step, micro-batch), so a resumed run repeats them. Nothing is updated when the
 * loss or the gradient is not finite.
 */
export async function optimizerStep<B>(a: {
  task: FeatureTask<B>;
  params: Map<string, tf.Variable>;
  micro: B[];
  step: number;
  epoch: number;
  lr: number;
  c: TrainConfig;
  opt: AdamW;
  parallel: Parallel;
  precision: Precision;
  paddingRows: Map<string, number[]>;
  lastCheckpoint: string | undefined;
}): Promise<StepOutcome> {
  const { c, step } = a;
  const g = await a.precision.autocast(() => a.parallel.gradients(a.task, a.params, a.micro, { step, seed: c.seed, training: true }, (i) => hashInts(c.seed, step, i)));
  let grads = g.grads;
  try {
    if (!Number.isFinite(g.loss))
      throw new NonFiniteLossError(
        `loss is ${g.loss} at step ${step + 1} (epoch ${a.epoch}); stopping without updating. ` +
          (a.lastCheckpoint ? `Last good checkpoint: ${a.lastCheckpoint}` : 'No checkpoint was written yet') +
          '. Lower the learning rate or check the data.',
      );
    const masked = maskGradRows(grads, a.paddingRows);
    for (const [k, t] of grads) if (masked.get(k) !== t) t.dispose();
    grads = masked;
    // Clipping folds into AdamW's single pass over each gradient (torch's clip_grad_norm_ coefficient).
    const { norm, scale } = globalGradNorm(grads, c.gradClip);
    if (!Number.isFinite(norm)) throw new NonFiniteLossError(`gradient norm is ${norm} at step ${step + 1} (loss ${g.loss}); stopping without updating`);
    a.opt.step(grads, a.lr, { disposeGrads: true, gradScale: scale }); // each gradient freed as soon as its update is done
    a.task.afterUpdate?.(a.params, c);
    return { loss: g.loss, terms: g.terms, norm };
  } finally {
    tf.dispose([...grads.values()]);
  }
}
