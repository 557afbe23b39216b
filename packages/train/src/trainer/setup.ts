/** The run folder and resume phase: lock, config.json, loggers, and the state of an interrupted run restored. */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { atomicWriteFile } from '@altclip/checkpoint';
import type { AdamW } from '../adamw';
import { configHash, loadCheckpoint, loadParams, MetricsLog, parseLoggers, prepareRunDir, resolveCheckpoint, TrainerState } from '../run';
import { TensorBoardLog } from '../tensorboard';
import type { TrainArgs, TrainConfig } from './types';

/** Fields that do not change the trajectory are left out of the hash, so a run can be resumed with more steps. */
export function trajectoryHash(c: TrainConfig): string {
  const { steps, epochs, logEvery, checkpointEvery, keepLast, evalEvery, logger, ...rest } = c;
  return configHash(rest);
}

/** An opened run: where it stands, and where its records go. */
export interface OpenRun {
  state: TrainerState;
  /** The checkpoint this call resumed from. */
  resumedFrom?: string;
  /** Appends a record to metrics.jsonl (and TensorBoard). */
  record(rec: Record<string, unknown>): void;
  /** Releases the run folder's lock. */
  close(): void;
}

/**
 * Prepares the run folder (refused when another run owns it; locked while this one trains), writes config.json, and
 * on resume restores the parameters, the optimizer's moments and the trainer state. Only the writing process of a
 * data-parallel group touches the folder; every process reads the checkpoint it resumes from.
 */
export async function openRun<B>(a: TrainArgs<B>, c: TrainConfig, opt: AdamW, dataSize: number, writer: boolean, log: (s: string) => void): Promise<OpenRun> {
  const hash = trajectoryHash(c);
  const loggers = parseLoggers(c.logger);
  const runDir = writer ? a.runDir : undefined;
  const tbDir = runDir && loggers.has('tensorboard') ? path.join(runDir, 'tensorboard') : undefined;
  let state: TrainerState = { step: 0, epoch: 0, batchInEpoch: 0, samplesSeen: 0, dataSize, seed: c.seed, configHash: hash, time: '' };
  let metrics: MetricsLog | undefined;
  let tb: TensorBoardLog | undefined;
  let resumedFrom: string | undefined;
  // Held until train() returns or throws, so a second process on the same run folder is refused up front.
  let unlock = () => {};
  try {
    if (runDir) {
      unlock = prepareRunDir(runDir, !!a.resume, log);
      metrics = new MetricsLog(path.join(runDir, 'metrics.jsonl'));
      if (!a.resume) await atomicWriteFile(path.join(runDir, 'config.json'), [JSON.stringify(a.runConfig ?? c, null, 2) + '\n']);
    }
    const tbFresh = tbDir ? !TensorBoardLog.exists(tbDir) : false;
    if (a.resume) {
      const ck = resolveCheckpoint(a.runDir ?? '', a.resume, log);
      await loadParams(ck, a.allParams ?? a.params);
      state = await loadCheckpoint(ck, opt);
      resumedFrom = ck;
      if (state.seed !== c.seed) throw new Error(`cannot resume ${ck}: it was trained with seed ${state.seed}, this run has seed ${c.seed}`);
      if (state.dataSize !== undefined && state.dataSize !== dataSize)
        log(`warning: ${ck} was trained on ${state.dataSize} samples, the data now has ${dataSize}: the sample order will not continue the interrupted run's`);
      state.dataSize = dataSize;
      if (state.configHash !== hash) log(`warning: ${ck} was written with a different training configuration (hash ${state.configHash} vs ${hash}); continuing`);
      metrics?.truncateAfter(state.step);
      if (tbDir) tb = new TensorBoardLog(tbDir, { resumedAtStep: state.step });
      log(`resumed from ${ck} at step ${state.step} (epoch ${state.epoch}, batch ${state.batchInEpoch})`);
    }
    if (tbDir) {
      tb ??= new TensorBoardLog(tbDir);
      // Indented four spaces: the text plugin renders markdown, and this keeps the JSON as a code block.
      if (tbFresh) tb.text('config', JSON.stringify(a.runConfig ?? c, null, 2).replace(/^/gm, '    '), state.step);
    }
  } catch (e) {
    unlock();
    throw e;
  }
  return {
    state,
    resumedFrom,
    record: (rec) => {
      metrics?.write(rec);
      tb?.write(rec);
    },
    close: unlock,
  };
}

/** Keys of the parameters holding NaN/Inf (one small reduction per tensor, one read for all). */
export function nonFiniteParams(params: Map<string, tf.Variable>): string[] {
  const keys = [...params.keys()];
  if (!keys.length) return [];
  // sum(v * 0) is 0 when every element is finite and NaN otherwise (0 * NaN and 0 * Inf are NaN); Mul and Sum
  // exist on every backend, unlike IsFinite/All.
  const sums = keys.map((k) => tf.tidy(() => tf.sum(tf.mul(params.get(k)!, 0))));
  const v = tf.tidy(() => tf.stack(sums).dataSync());
  tf.dispose(sums);
  return keys.filter((_, i) => v[i] !== 0);
}
