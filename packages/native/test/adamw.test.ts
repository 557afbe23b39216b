/** The fused in-place AdamW step against a float64 evaluation of PyTorch's AdamW formula. */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { nativeAdamWStep, nativeStatus } from '@altclip/native';
import { rand, relErr } from './helpers';

const status = nativeStatus();
const describeNative = status.available ? describe : describe.skip;
if (!status.available) test.skip(`native addon not available, AdamW tests skipped: ${status.why}`, () => undefined);

/** torch.optim.AdamW, one step, float64. */
function refStep(p: Float64Array, m: Float64Array, v: Float64Array, g: Float32Array, t: number, lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): void {
  const bc1 = 1 - b1 ** t;
  const bc2 = 1 - b2 ** t;
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - lr * wd;
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] -= ((lr / bc1) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
  }
}

describeNative('nativeAdamWStep', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend: 'wasm' });
  });

  test('three in-place steps equal the float64 reference (odd size, weight decay)', async () => {
    await tf.setBackend('wasm');
    const n = 70001;
    const p0 = rand(n, 1);
    // tidy frees the initial tensors, so each variable owns its data (as an optimizer's are)
    const [p, m, v] = tf.tidy(() => [tf.variable(tf.tensor(p0), true), tf.variable(tf.zeros([n]), false), tf.variable(tf.zeros([n]), false)]);
    const rp = Float64Array.from(p0);
    const rm = new Float64Array(n);
    const rv = new Float64Array(n);
    for (let t = 1; t <= 3; t++) {
      const gv = rand(n, 10 + t, -0.1, 0.1);
      const g = tf.tensor(gv);
      const lr = 1e-3 * t;
      const ok = nativeAdamWStep(p, m, v, g, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, bc1: 1 - 0.9 ** t, bc2: 1 - 0.999 ** t, weightDecay: 0.01 });
      g.dispose();
      expect(ok).toBe(true);
      refStep(rp, rm, rv, gv, t, lr, 0.01);
    }
    expect(relErr(p.dataSync(), rp)).toBeLessThan(1e-6);
    expect(relErr(m.dataSync(), rm)).toBeLessThan(1e-6);
    expect(relErr(v.dataSync(), rv)).toBeLessThan(1e-6);
    tf.dispose([p, m, v]);
  });

  test('refuses (returns false, changes nothing) when p shares its data with another tensor, or off wasm', async () => {
    await tf.setBackend('wasm');
    const init = tf.tensor([1, 2, 3]);
    const p = tf.variable(init, true); // shares init's data while init is alive
    const m = tf.variable(tf.zeros([3]), false);
    const v = tf.variable(tf.zeros([3]), false);
    const g = tf.tensor([0.1, 0.1, 0.1]);
    const o = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, bc1: 0.1, bc2: 0.001, weightDecay: 0 };
    expect(nativeAdamWStep(p, m, v, g, o)).toBe(false);
    expect(Array.from(init.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(m.dataSync())).toEqual([0, 0, 0]);
    tf.dispose([init, p, m, v, g]);

    await tf.setBackend('cpu');
    const [pc, mc, vc] = [tf.variable(tf.ones([3])), tf.variable(tf.zeros([3])), tf.variable(tf.zeros([3]))];
    const gc = tf.ones([3]);
    expect(nativeAdamWStep(pc, mc, vc, gc, o)).toBe(false);
    tf.dispose([pc, mc, vc, gc]);
    await tf.setBackend('wasm');
  });
});

describeNative('@altclip/train AdamW uses the native step on wasm', () => {
  test('three steps on wasm (native, decay and no-decay groups) equal three steps on cpu (tfjs ops)', async () => {
    const { AdamW } = await import('@altclip/train');
    const shapes: Record<string, number[]> = { 'enc.dense.weight': [33, 17], 'enc.dense.bias': [17] };
    const run = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend);
      const params = new Map(Object.entries(shapes).map(([k, s], i) => [k, tf.tidy(() => tf.variable(tf.tensor(rand(s.reduce((a, b) => a * b, 1), 40 + i), s), true, `${backend}.${k}`))]));
      const opt = new AdamW(params, { weightDecay: 0.1 });
      const ids = [...params.values()].map((p) => p.dataId);
      for (let t = 1; t <= 3; t++) {
        const grads = new Map([...params].map(([k, p], i) => [k, tf.tensor(rand(p.size, 100 * t + i, -0.01, 0.01), p.shape)]));
        opt.step(grads, 1e-2);
        tf.dispose([...grads.values()]);
      }
      const out = [...params.values()].map((p) => Float64Array.from(p.dataSync()));
      // the native step updates in place; the tfjs update assigns new tensors
      const inPlace = [...params.values()].every((p, i) => p.dataId === ids[i]);
      opt.dispose();
      tf.dispose([...params.values()]);
      return { out, inPlace };
    };
    const w = await run('wasm');
    const c = await run('cpu');
    expect(w.inPlace).toBe(true);
    expect(c.inPlace).toBe(false);
    for (let i = 0; i < w.out.length; i++) expect(relErr(w.out[i], c.out[i])).toBeLessThan(1e-6);
    await tf.setBackend('wasm');
  });
});
