/**
 * Issue 11: a training step on the `native` backend runs no stock cpu kernel. One short run of each stage on tiny
 * models (training-steps.ts) with fallbackKernelUse() reset before and read after; the census is printed, and
 * the losses must be finite (the step really ran).
 */
import { setupBackend } from '@altclip/backend';
import { fallbackKernelUse, loadAddon } from '../src';
import { stageRuns } from './training-steps';

const { addon, why } = loadAddon();
const maybe = addon ? describe : describe.skip;
if (!addon) console.log(`native coverage tests skipped: ${why}`);

maybe('native backend: a training step runs no fallback kernel', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'native' });
  });

  test.each(stageRuns().map((s) => [s.name, s] as const))('%s', async (_name, stage) => {
    fallbackKernelUse(true);
    const losses = await stage.run();
    const used = fallbackKernelUse(true);
    const census = [...used].map(([k, u]) => `${k} x${u.calls} (${u.ms.toFixed(1)} ms)`).join(', ') || 'none';
    console.log(`[native] ${stage.name}: fallback kernels: ${census}`);
    expect(losses.length).toBeGreaterThan(0);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect([...used.keys()]).toEqual([]);
  }, 120000);
});
