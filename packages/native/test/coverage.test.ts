/**
 * Issue 11: a training step on the `native` backend runs no stock cpu kernel. One short run of each stage on tiny
 * models (training-steps.ts) with fallbackKernelUse() reset before and read after; the census is printed. The same
 * run on the stock `cpu` backend must give the same losses (the second one after an update: gradients, clipping
 * and AdamW agree too). Dropout's native kernel draws other masks than tf.dropout's (a counter-based generator in
 * C++), so the loss comparison runs native again with it off (setNativeDropout(false)): the same draws as cpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { fallbackKernelUse, loadAddon } from '../src';
import { setNativeDropout } from '@altclip/models';
import { stageRuns } from './training-steps';

const { addon, why } = loadAddon();
const maybe = addon ? describe : describe.skip;
if (!addon) console.log(`native coverage tests skipped: ${why}`);

maybe('native backend: a training step runs no fallback kernel', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend: 'native' });
  });

  test.each(stageRuns().map((s) => [s.name, s] as const))('%s', async (_name, stage) => {
    tf.setBackend('native');
    fallbackKernelUse(true);
    const losses = await stage.run();
    const used = fallbackKernelUse(true);
    const census = [...used].map(([k, u]) => `${k} x${u.calls} (${u.ms.toFixed(1)} ms)`).join(', ') || 'none';
    console.log(`[native] ${stage.name}: fallback kernels: ${census}; losses ${losses.map((l) => l.toFixed(6)).join(' ')}`);
    expect([...used.keys()]).toEqual([]);
    setNativeDropout(false);
    const same = await stage.run();
    setNativeDropout(true);
    tf.setBackend('cpu');
    const ref = await stage.run();
    expect(same.length).toBe(ref.length);
    same.forEach((l, i) => {
      if (!(Math.abs(l - ref[i]) <= 1e-4 * Math.max(1, Math.abs(ref[i])))) throw new Error(`${stage.name}: loss ${i} is ${l} on native, ${ref[i]} on cpu`);
    });
  }, 120000);
});
