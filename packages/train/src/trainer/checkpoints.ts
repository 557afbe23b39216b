/** The checkpoint phase: when to save, what makes a model not worth saving, and the save itself. */
import * as tf from '@tensorflow/tfjs-core';
import { evalLoss, FeatureTask } from '../grads';
import { saveCheckpoint, TrainerState } from '../run';
import { nonFiniteParams } from './setup';
import { NonFiniteLossError, Parallel, TrainConfig, TrainOptimizer } from './types';

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
  opt: TrainOptimizer;
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
      // Each rank probes its own rows; all agree before any of them branches.
      const after = evalLoss(a.task, probe.micro, { step: step - 1, seed: c.seed });
      if (a.parallel.agree(!Number.isFinite(after), `probe after step ${step}`))
        throw new NonFiniteLossError(
          `the update of step ${step} broke the model: its loss on the same batch is now ${after} (was ${probe.lossBefore}); not saving it. ${lastWords()}. ` +
            `Lower the learning rate (${c.lr}).`,
        );
    },
    async save(state, trainedSteps) {
      policy.assertSavable(state.step);
      await a.parallel.checkInSync(a.params, `at the checkpoint of step ${state.step}`);
      // Nothing trained yet (every batch so far unusable): an untouched model is not worth a checkpoint. The run
      // folder is given to every rank (only the writer writes into it), so every rank takes the same branch here.
      if (!a.runDir || (trainedSteps === 0 && !a.resumedFrom)) return;
      const runDir = a.runDir;
      state.time = new Date().toISOString();
      last =
        (await a.parallel.checkpoint(a.opt, () => saveCheckpoint({ runDir, state, optimizer: a.opt, saveModel: a.saveModel, keepLast: c.keepLast, beforeCommit: a.beforeCommit }))) ?? last;
    },
    get last() {
      return last;
    },
  };
  return policy;
}
