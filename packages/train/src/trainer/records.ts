/** The logging phase: what a step's record holds. */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainerState } from '../run';
import type { StepOutcome } from './update';
import type { StepRecord } from './types';

export function stepRecord(a: { state: TrainerState; perEpoch: number; out: StepOutcome; lr: number; samples: number; seconds: number; allParams: Map<string, tf.Variable> }): StepRecord {
  return {
    step: a.state.step,
    // epochs completed, fractional (2.5 = half way through the third epoch)
    epoch: +(a.state.epoch + a.state.batchInEpoch / a.perEpoch).toFixed(4),
    loss: a.out.loss,
    ...a.out.terms,
    lr: a.lr,
    grad_norm: a.out.norm,
    samples_per_s: a.samples / Math.max(a.seconds, 1e-9),
    logit_scale: a.allParams.get('logit_scale')?.dataSync()[0],
    num_tensors: tf.memory().numTensors,
    rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
}

/** One line of evaluation numbers for the log. */
export function evalLine(step: number, ev: Record<string, number>): string {
  return `eval @ step ${step}: ${Object.entries(ev).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`).join('  ')}`;
}
