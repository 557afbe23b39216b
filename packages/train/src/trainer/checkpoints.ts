/** The checkpoint phase: when to save, what makes a model not worth saving, and the save itself. */
import * as tf from '@tensorflow/tfjs-core';
import type { AdamW } from '../adamw';
import { evalLoss, FeatureTask } from '../grads';
import { saveCheckpoint, TrainerState } from '../run';
import { nonFiniteParams } from './setup';
import { NonFiniteLossError, Parallel, TrainConfig } from './types';

export interface CheckpointPolicy<B> {
  /** A checkpoint follows step `step`: every checkpointEvery steps, at the end, and after a stop signal. */
  due(step: number, stopping: boolean): boolean;
  /**
   * A blow-up in the last update leaves a finite loss but NaN weights, or finite weights that overflow in the forward
   * pass: either model predicts only NaN. Checked before every checkpoint and so before the final model; `probe` (the
   * step's batch) adds the forward pass.
   */
  assertSavable(step: number, probe?: { micro: B[]; lossBefore: number }): void;
  /** Writes a checkpoint of `state` (nothing before the first trained step of a fresh run, or without a run folder). */
  save(state: TrainerState, trainedSteps: number): Promise<void>;
  /** The newest checkpoint written or resumed from. */
  readonly last: string | undefined;
}

export function checkpointPolicy<B>(a: {
  c: TrainConfig;
  total: number;
  task: FeatureTask<B>;
  params: Map<string, tf.Variable>;
  opt: AdamW;
  parallel: Parallel;
  runDir?: string;
  resumedFrom?: string;
  saveModel: (dir: string) => Promise<void>;
  beforeCommit?: (tmpDir: string) => Promise<void> | void;
}): CheckpointPolicy<B> {
  const { c } = a;
  let last = a.resumedFrom;
  const lastWords = () => (last ? `Last good checkpoint: ${last}` : 'No checkpoint was written yet');
  const policy: CheckpointPolicy<B> = {
    due: (step, stopping) => stopping || step === a.total || (!!c.checkpointEvery && step % c.checkpointEvery === 0),
    assertSavable(step, probe) {
      const bad = nonFiniteParams(a.params);
      if (bad.length)
        throw new NonFiniteLossError(
          `parameters hold NaN/Inf after step ${step} (${bad.length} tensor(s), e.g. '${bad[0]}'); not saving them. ${lastWords()}. ` +
            `Lower the learning rate (${c.lr}) or clip gradients (--grad-clip).`,
        );
      if (!probe) return;
      const after = evalLoss(a.task, probe.micro, { step: step - 1, seed: c.seed });
      if (!Number.isFinite(after))
        throw new NonFiniteLossError(
          `the update of step ${step} broke the model: its loss on the same batch is now ${after} (was ${probe.lossBefore}); not saving it. ${lastWords()}. ` +
            `Lower the learning rate (${c.lr}).`,
        );
    },
    async save(state, trainedSteps) {
      policy.assertSavable(state.step);
      await a.parallel.checkInSync?.(a.params, state.step);
      // Nothing trained yet (every batch so far unusable): an untouched model is not worth a checkpoint.
      if (!a.runDir || !a.parallel.isWriter || (trainedSteps === 0 && !a.resumedFrom)) return;
      state.time = new Date().toISOString();
      last = await saveCheckpoint({ runDir: a.runDir, state, optimizer: a.opt, saveModel: a.saveModel, keepLast: c.keepLast, beforeCommit: a.beforeCommit });
    },
    get last() {
      return last;
    },
  };
  return policy;
}
