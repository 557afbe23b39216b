// Child process of the data-parallel tests: runs one training stage on the tiny fixture model (or the toy model), in
// one process or as one rank of `mpirun -np N`, and prints `RESULT <json>` on rank 0. Argument: a JSON DpChildConfig.
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { fixture, REPO_ROOT } from '@altclip/test-utils';
import type { ClassificationDataset } from '@altclip/data';
import { worldCollective } from '@altclip/mpi';
import { runContrastive, runDistill, runFinetune, train, StageResult, TrainResult } from '../../src';
import { charTokenizer } from '../char-tokenizer';
import { makeToy, toyData } from '../toy';

export interface DpChildConfig {
  stage: 'finetune' | 'contrastive' | 'distill' | 'toy';
  out: string;
  batchSize: number;
  steps: number;
  accumSteps?: number;
  dropout?: boolean;
  localLoss?: boolean;
  shardOptimizer?: boolean;
  /** Reduce gradient buckets during the backward pass (default: only with spare CPUs). */
  overlap?: boolean;
  resume?: string;
  checkpointEvery?: number;
  /** contrastive: the pairs file; distill: the corpus. */
  data?: string;
  /** toy: this rank kills itself (SIGKILL) / hangs when asked for its `at`-th batch, or starts from other weights. */
  fault?: { rank: number; at: number; kind: 'kill' | 'hang' | 'perturb' };
}

/** 16 synthetic 32x32 RGB images of 10 classes (deterministic). */
function syntheticImages(): ClassificationDataset {
  const names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  const labels = Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 10);
  return {
    name: 'synthetic',
    size: 16,
    classNames: names,
    labels,
    getImage: async (i: number) => {
      const data = new Uint8Array(32 * 32 * 3);
      for (let p = 0; p < data.length; p++) data[p] = (p * (i + 3) * 37 + labels[i] * 91) % 256;
      return { width: 32, height: 32, channels: 3, data };
    },
  };
}

async function runToy(c: DpChildConfig): Promise<TrainResult> {
  const toy = makeToy(5, { dropout: c.dropout ? 0.3 : 0 });
  const inner = toyData(64);
  const rank = worldCollective().rank;
  if (c.fault?.kind === 'perturb' && c.fault.rank === rank) toy.params.get('text_projection.weight')!.assign(tf.add(toy.params.get('text_projection.weight')!, 1e-6));
  let asked = 0;
  const data = {
    size: inner.size,
    batch: (idx: number[]) => {
      if (c.fault && c.fault.rank === rank && ++asked === c.fault.at) {
        if (c.fault.kind === 'kill') process.kill(process.pid, 'SIGKILL');
        for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000); // hangs without using a core
      }
      return inner.batch(idx);
    },
  };
  return train({
    task: toy.task, params: toy.params, data, runDir: c.out, resume: c.resume, progress: false, log: () => undefined,
    config: { seed: 3, batchSize: c.batchSize, steps: c.steps, lr: 0.05, schedule: 'constant', warmup: 0, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, logEvery: 1, checkpointEvery: c.checkpointEvery ?? 1, keepLast: 0 },
  });
}

async function main() {
  const c = JSON.parse(process.argv[2]) as DpChildConfig;
  await setupBackend({ backend: 'wasm' });
  const TINY = fixture('altclip-tiny');
  const SPM = path.join(REPO_ROOT, 'datasets', 'demo-spm');
  const common = {
    out: c.out, batchSize: c.batchSize, steps: c.steps, accumSteps: c.accumSteps, lr: 1e-3, warmup: 0, schedule: 'constant' as const, weightDecay: 0.01,
    dropout: c.dropout ?? false, logEvery: 1, checkpointEvery: c.checkpointEvery ?? 1, keepLast: 0, resume: c.resume, seed: 7,
    localLoss: c.localLoss, shardOptimizer: c.shardOptimizer, overlap: c.overlap, bucketMB: 0.01, progress: false as const, log: () => undefined,
  };
  let r: StageResult | TrainResult;
  // finetune also evaluates at the end (zero-shot on the same images, split over the ranks)
  if (c.stage === 'finetune')
    r = await runFinetune({ ...common, model: TINY, tokenizer: SPM, dataset: syntheticImages(), templates: ['a photo of a {c}.'], lockImage: false, evalDataset: syntheticImages() });
  else if (c.stage === 'contrastive') r = await runContrastive({ ...common, model: TINY, tokenizer: SPM, data: c.data! });
  else if (c.stage === 'distill')
    r = await runDistill({ ...common, teacher: fixture('altclip-tiny', 'teacher'), student: TINY, tokenizer: SPM, teacherTokenizer: charTokenizer, data: c.data!, cacheDir: `${c.out}-cache` });
  else r = await runToy(c);
  if (worldCollective().rank === 0) process.stdout.write(`RESULT ${JSON.stringify({ status: r.status, step: r.step, losses: r.losses, records: r.records })}\n`);
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(1);
});
