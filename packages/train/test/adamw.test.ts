import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { BACKENDS } from '../../models/test/helpers';
import { AdamW, clipByGlobalNorm, globalGradNorm } from '../src';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

/** Plain-JS AdamW straight from the PyTorch docs (decoupled decay, bias correction, eps outside sqrt(v_hat)). */
function refAdamW(p0: number[], grads: number[][], lrs: number[], o: { b1: number; b2: number; eps: number; wd: number; noDecay?: Set<number> }) {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      if (!o.noDecay?.has(i)) p[i] *= 1 - lrs[s] * o.wd;
      m[i] = o.b1 * m[i] + (1 - o.b1) * g[i];
      v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i];
      const mh = m[i] / (1 - o.b1 ** t);
      const vh = v[i] / (1 - o.b2 ** t);
      p[i] -= (lrs[s] * mh) / (Math.sqrt(vh) + o.eps);
    }
  });
  return p;
}

function rand(n: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
}

describe('AdamW', () => {
  // wasm and native take @altclip/native's fused update (padding rows as separate no-decay ranges); cpu the tfjs one.
  test.each(BACKENDS.map((b) => [b]))('%s: matches the PyTorch formula over several steps, with parameter groups and a padding row', async (backend) => {
    await setupBackend({ backend });
    try {
      formulaCase();
    } finally {
      await setupBackend({ backend: 'cpu' });
    }
  });

  function formulaCase(): void {
    const w0 = rand(12, 1); // [4, 3] "word_embeddings", row 1 = padding
    const b0 = rand(3, 2); // bias: no decay
    const params = new Map<string, tf.Variable>([
      ['text_model.roberta.embeddings.word_embeddings.weight', tf.variable(tf.tensor2d(w0, [4, 3]))],
      ['text_model.pre_LN.bias', tf.variable(tf.tensor1d(b0))],
    ]);
    const o = { b1: 0.9, b2: 0.98, eps: 1e-6, wd: 0.1 };
    const opt = new AdamW(params, { betas: [o.b1, o.b2], eps: o.eps, weightDecay: o.wd, noDecayRows: new Map([['text_model.roberta.embeddings.word_embeddings.weight', [1]]]) });
    expect(opt.groupsSummary()).toEqual({ decay: { params: 1, values: 12, weightDecay: 0.1 }, no_decay: { params: 1, values: 3, weightDecay: 0 } });
    const steps = 5;
    const gw = Array.from({ length: steps }, (_, s) => rand(12, 10 + s).map((x) => x * (s + 1)));
    const gb = Array.from({ length: steps }, (_, s) => rand(3, 20 + s));
    const lrs = [1e-2, 2e-2, 5e-3, 1e-2, 3e-2];
    const before = tf.memory().numTensors;
    for (let s = 0; s < steps; s++) {
      const grads = new Map<string, tf.Tensor>([
        ['text_model.roberta.embeddings.word_embeddings.weight', tf.tensor2d(gw[s], [4, 3])],
        ['text_model.pre_LN.bias', tf.tensor1d(gb[s])],
      ]);
      opt.step(grads, lrs[s]);
      tf.dispose([...grads.values()]);
      expect(tf.memory().numTensors).toBe(before);
    }
    const wantW = refAdamW(w0, gw, lrs, { ...o, noDecay: new Set([3, 4, 5]) });
    const wantB = refAdamW(b0, gb, lrs, { ...o, wd: 0 });
    const gotW = Array.from(params.get('text_model.roberta.embeddings.word_embeddings.weight')!.dataSync());
    const gotB = Array.from(params.get('text_model.pre_LN.bias')!.dataSync());
    gotW.forEach((x, i) => expect(x).toBeCloseTo(wantW[i], 5));
    gotB.forEach((x, i) => expect(x).toBeCloseTo(wantB[i], 5));
    // The decay really applied to the other rows: without it the result differs by more than the tolerance.
    const noDecayW = refAdamW(w0, gw, lrs, { ...o, wd: 0 });
    expect(Math.max(...gotW.map((x, i) => Math.abs(x - noDecayW[i])))).toBeGreaterThan(1e-4);
    opt.dispose();
    tf.dispose([...params.values()]);
  }

  // Clipping folded into the update (gradScale), and clipByGlobalNorm's native norm and in-place scaling.
  test.each(BACKENDS.map((b) => [b]))('%s: global norm, clip coefficient, in-place clipping and gradScale match the PyTorch formulas', async (backend) => {
    await setupBackend({ backend });
    try {
      const g0 = rand(3000, 5).map((x) => x * 3);
      const g1 = rand(7, 6);
      const norm = Math.sqrt([...g0, ...g1].reduce((a, x) => a + x * x, 0));
      const grads = () => new Map<string, tf.Tensor>([['a', tf.tensor1d(g0)], ['b', tf.tensor1d(g1)]]);
      const gs = grads();
      const r = globalGradNorm(gs, 1);
      expect(r.norm).toBeCloseTo(norm, 4);
      expect(r.scale).toBeCloseTo(1 / (norm + 1e-6), 9);
      expect(globalGradNorm(gs, 1e6).scale).toBe(1); // under the limit: no clipping
      // clipByGlobalNorm: same norm, gradients scaled (in place on native/wasm), nothing leaked.
      const before = tf.memory().numTensors;
      expect(clipByGlobalNorm(gs, 1)).toBeCloseTo(norm, 4);
      expect(tf.memory().numTensors).toBe(before);
      Array.from(gs.get('a')!.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(g0[i] * r.scale, 6));
      // gradScale in the update = updating with the scaled gradients.
      const p0 = rand(3000, 7);
      const params = new Map<string, tf.Variable>([['a', tf.variable(tf.tensor1d(p0))]]);
      const opt = new AdamW(params, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 });
      const raw = new Map<string, tf.Tensor>([['a', tf.tensor1d(g0)]]);
      opt.step(raw, 1e-2, { gradScale: r.scale });
      const want = refAdamW(p0, [g0.map((x) => x * r.scale)], [1e-2], { b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.1 });
      Array.from(params.get('a')!.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want[i], 6));
      // and it differs from the unscaled update (the scale was applied).
      const unscaled = refAdamW(p0, [g0], [1e-2], { b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.1 });
      expect(Math.max(...Array.from(params.get('a')!.dataSync(), (x, i) => Math.abs(x - unscaled[i])))).toBeGreaterThan(1e-4);
      opt.dispose();
      tf.dispose([...gs.values(), ...raw.values(), ...params.values()]);
    } finally {
      await setupBackend({ backend: 'cpu' });
    }
  });

  test('state round-trips: a restored optimizer continues identically', async () => {
    const mk = () => new Map<string, tf.Variable>([['w', tf.variable(tf.tensor1d([0.5, -1, 2]))]]);
    const a = mk();
    const b = mk();
    const oa = new AdamW(a, { weightDecay: 0.05 });
    const g = () => new Map<string, tf.Tensor>([['w', tf.tensor1d([0.1, -0.3, 0.2])]]);
    const step = (o: AdamW, lr: number) => {
      const gr = g();
      o.step(gr, lr);
      tf.dispose([...gr.values()]);
    };
    step(oa, 0.1);
    step(oa, 0.1);
    const st = await oa.stateDict();
    const loaded = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, t] of st.tensors) loaded.set(k, { shape: t.shape, data: (await t.load()) as Float32Array });
    b.get('w')!.assign(a.get('w')!);
    const ob = new AdamW(b, { weightDecay: 0.05 });
    ob.loadState((k) => loaded.get(k), st.metadata);
    step(oa, 0.1);
    step(ob, 0.1);
    expect(Array.from(b.get('w')!.dataSync())).toEqual(Array.from(a.get('w')!.dataSync()));
    expect(() => new AdamW(new Map([['other', tf.variable(tf.scalar(1))]])).loadState((k) => loaded.get(k), st.metadata)).toThrow(/missing 'exp_avg.other'/);
    oa.dispose();
    ob.dispose();
  });

  test('peak memory of a step: a few temporaries of one parameter (tf.train.adam needs far more)', async () => {
    const shape = [512, 256];
    const bytes = 512 * 256 * 4;
    const g = tf.randomNormal(shape, 0, 1, 'float32', 2);
    const p = tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 1));
    const opt = new AdamW(new Map([['w', p]]), { weightDecay: 0.1 });
    const grads = new Map([['w', g]]);
    opt.step(grads, 1e-3);
    const before = tf.memory().numBytes;
    const mine = (await tf.profile(() => opt.step(grads, 1e-3))).peakBytes - before;
    expect(tf.memory().numBytes).toBe(before);
    expect(mine).toBeLessThanOrEqual(4 * bytes + 4096); // + a few scalars
    const q = tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 1));
    const adam = tf.train.adam(1e-3);
    adam.applyGradients({ [q.name]: g });
    const before2 = tf.memory().numBytes;
    const theirs = (await tf.profile(() => adam.applyGradients({ [q.name]: g }))).peakBytes - before2;
    expect(theirs).toBeGreaterThan(mine);
    if (process.env.ALTCLIP_VERBOSE) console.log(`AdamW step peak: ours ${(mine / bytes).toFixed(2)}x, tf.train.adam ${(theirs / bytes).toFixed(2)}x the parameter`);
    opt.dispose();
    adam.dispose();
    tf.dispose([g, p, q]);
  });
});
