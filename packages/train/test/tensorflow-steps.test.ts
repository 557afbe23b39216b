/**
 * Issue 22: a short training run of every stage (distill, contrastive, finetune with checkpointing, CLIP,
 * classifier: packages/native/test/training-steps.ts, the real trainer with clipping and AdamW) on the `tensorflow`
 * backend (tfjs-node's TensorFlow kernels) gives the losses of tfjs's `cpu` reference backend, the later ones after
 * updates (so gradients, clipping and AdamW agree too), and leaks no tensor. Skipped, saying how to enable it,
 * where tfjs-node is not installed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { describeOnTensorflow } from '@altclip/test-utils';
import { stageRuns } from '../../native/test/training-steps';

describeOnTensorflow('training steps of every stage', (backend) => {
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend });
  });

  test.each(stageRuns().map((s) => [s.name, s] as const))('%s: losses equal the cpu backend\'s', async (_name, stage) => {
    await setupBackend({ backend });
    const before = tf.memory().numTensors;
    const losses = await stage.run();
    expect(tf.memory().numTensors).toBe(before);
    await setupBackend({ backend: 'cpu' });
    const ref = await stage.run();
    console.log(`[${backend}] ${stage.name}: losses ${losses.map((l) => l.toFixed(6)).join(' ')} (cpu ${ref.map((l) => l.toFixed(6)).join(' ')})`);
    expect(losses.length).toBe(ref.length);
    losses.forEach((l, i) => {
      if (!(Math.abs(l - ref[i]) <= 1e-4 * Math.max(1, Math.abs(ref[i])))) throw new Error(`${stage.name}: loss ${i} is ${l} on ${backend}, ${ref[i]} on cpu`);
    });
  }, 120000);
});
