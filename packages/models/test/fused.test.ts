/**
 * The fused kernels of @altclip/native (LayerNorm, bias + GELU / quick-GELU, masked softmax, attention) against
 * the composed tfjs ops they replace, run on tfjs's `cpu` backend (where no fused kernel exists): values and
 * gradients on random inputs with odd sizes, every mask form the models use, and fully masked rows. The fused side
 * runs on `native` and on `wasm` with the addon; gradients go through tf.grads and @altclip/train's valueAndGrads.
 * Skipped, saying why, when the addon is not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { loadAddon } from '@altclip/native';
import { valueAndGrads } from '@altclip/train';
import { AttentionWeights, causalBias, layerNorm, linear, MASK_MIN, selfAttention, setFusedKernels } from '../src/ops';
import { fusedMaskedSoftmax, setNativeDropout } from '../src/fused';
import { rand, relErr } from '../../backend/test/helpers';
import { padBias } from './helpers';
import { describeOnTensorflow } from '@altclip/test-utils';

const { addon, why } = loadAddon();
const describeNative = addon ? describe : describe.skip;
if (!addon) test.skip(`native addon not available, fused kernel tests skipped: ${why}`, () => undefined);

/** A case: builds its inputs (all float32 leaves the gradient is taken for) and the scalar-valued output. */
interface Case {
  name: string;
  kernel: string;
  inputs: Array<{ shape: number[]; lo?: number; hi?: number }>;
  f: (xs: tf.Tensor[]) => tf.Tensor;
}

let seed = 1;
function makeInputs(c: Case): Float32Array[] {
  return c.inputs.map((s) => rand(s.shape.reduce((a, b) => a * b, 1), seed++, s.lo ?? -1, s.hi ?? 1));
}

interface Result {
  out: Float32Array;
  grads: Float32Array[];
  kernels: string[];
}

/**
 * Runs c.f on `backend`: its output, and the gradients of sum(out * w) (w fixed random weights) with respect to
 * every input through tf.grads, or through valueAndGrads when `lean`.
 */
async function runCase(backend: string, c: Case, data: Float32Array[], lean: boolean, fused = true): Promise<Result> {
  await tf.setBackend(backend);
  setFusedKernels(fused);
  try {
    const xs = data.map((d, i) => tf.tensor(d, c.inputs[i].shape));
    const out = tf.tidy(() => c.f(xs));
    const w = tf.tensor(rand(out.size, 999), out.shape);
    const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(c.f(a), w)) as tf.Scalar;
    const prof = await tf.profile(() => tf.tidy(() => c.f(xs)));
    let grads: tf.Tensor[];
    if (lean) {
      const r = valueAndGrads(() => loss(...xs), xs);
      r.value.dispose();
      grads = r.grads as tf.Tensor[];
    } else grads = tf.grads(loss)(xs);
    const res = { out: out.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array), kernels: prof.kernelNames };
    tf.dispose([...xs, out, w, ...grads]);
    return res;
  } finally {
    setFusedKernels(true);
  }
}

function attentionWeights(xs: tf.Tensor[]): AttentionWeights {
  return { q: [xs[1], xs[2]], k: [xs[3], xs[4]], v: [xs[5], xs[6]], o: [xs[7], xs[8]] };
}

/** selfAttention inputs: x [B, L, H] then q/k/v/o weights [H, H] and biases [H]. */
function attentionInputs(B: number, L: number, H: number): Case['inputs'] {
  const w = [{ shape: [H, H], lo: -0.5, hi: 0.5 }, { shape: [H] }];
  return [{ shape: [B, L, H] }, ...w, ...w, ...w, ...w];
}


function attentionCase(name: string, B: number, L: number, H: number, heads: number, bias: () => tf.Tensor | undefined, scaleQuery: boolean): Case {
  return {
    name,
    kernel: 'AltclipAttention',
    inputs: attentionInputs(B, L, H),
    f: (xs) => selfAttention(xs[0], attentionWeights(xs), heads, bias(), { scaleQuery, dropout: 0 }),
  };
}

const CASES: Case[] = [
  { name: 'LayerNorm D=7 (odd), rank 3', kernel: 'AltclipLayerNorm', inputs: [{ shape: [3, 5, 7], lo: -2, hi: 3 }, { shape: [7] }, { shape: [7] }], f: ([x, g, b]) => layerNorm(x, g, b, 1e-5) },
  { name: 'LayerNorm D=130, eps 1e-12', kernel: 'AltclipLayerNorm', inputs: [{ shape: [37, 130], lo: 4, hi: 6 }, { shape: [130] }, { shape: [130] }], f: ([x, g, b]) => layerNorm(x, g, b, 1e-12) },
  { name: 'linear + bias + gelu, N=13', kernel: 'AltclipBiasAct', inputs: [{ shape: [2, 9, 6], lo: -3, hi: 3 }, { shape: [13, 6] }, { shape: [13] }], f: ([x, w, b]) => linear(x, w, b, 'gelu') },
  { name: 'linear + bias + gelu, N=64', kernel: 'AltclipBiasAct', inputs: [{ shape: [40, 16], lo: -3, hi: 3 }, { shape: [64, 16] }, { shape: [64] }], f: ([x, w, b]) => linear(x, w, b, 'gelu') },
  { name: 'linear + bias + quick_gelu, N=21', kernel: 'AltclipBiasAct', inputs: [{ shape: [35, 8], lo: -3, hi: 3 }, { shape: [21, 8] }, { shape: [21] }], f: ([x, w, b]) => linear(x, w, b, 'quick_gelu') },
  {
    name: 'masked softmax, padding bias [B,1,1,L], scale 0.3',
    kernel: 'AltclipSoftmaxMask',
    inputs: [{ shape: [2, 3, 5, 11], lo: -4, hi: 4 }],
    f: ([x]) => fusedMaskedSoftmax(x, padBias([11, 4], 11), 0.3) ?? tf.softmax(tf.add(tf.mul(x, 0.3), padBias([11, 4], 11))),
  },
  {
    name: 'masked softmax, causal bias [1,1,L,L], a fully masked row (key 0 padded)',
    kernel: 'AltclipSoftmaxMask',
    inputs: [{ shape: [2, 2, 9, 9], lo: -4, hi: 4 }],
    f: ([x]) => {
      const bias = tf.minimum(causalBias(9), tf.tensor4d(Array.from({ length: 18 }, (_, j) => (j === 9 ? MASK_MIN : 0)), [2, 1, 1, 9]));
      return fusedMaskedSoftmax(x, bias, 1) ?? tf.softmax(tf.add(x, bias));
    },
  },
  attentionCase('attention, no mask (ViT), L=70 crosses a 64-key tile, d=8', 2, 70, 24, 3, () => undefined, true),
  attentionCase('attention, padding mask (XLM-R), L=13, d=10', 3, 13, 20, 2, () => padBias([13, 7, 1], 13), false),
  attentionCase('attention, padding mask, L=130 (3 tiles), a fully padded sequence', 2, 130, 16, 2, () => padBias([100, 0], 130), false),
  attentionCase('attention, causal mask (CLIP text), L=77, d=16', 1, 77, 32, 2, () => causalBias(77), true),
  attentionCase(
    'attention, causal + padding (CLIP text with mask), L=9, first token padded in row 1',
    2, 9, 12, 3,
    () => tf.minimum(causalBias(9), tf.tensor4d(Array.from({ length: 18 }, (_, j) => (j === 9 || (j < 9 && j >= 6) ? MASK_MIN : 0)), [2, 1, 1, 9])),
    true,
  ),
];

describeNative('fused native kernels against the composed ops', () => {
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend: 'wasm' });
    await setupBackend({ backend: 'native' });
  });

  for (const backend of ['native', 'wasm']) {
    test.each(CASES.map((c) => [c.name, c] as const))(`${backend}: %s`, async (_, c) => {
      const data = makeInputs(c);
      const ref = await runCase('cpu', c, data, false);
      expect(ref.kernels).not.toContain(c.kernel);
      for (const lean of [false, true]) {
        const got = await runCase(backend, c, data, lean);
        expect(got.kernels).toContain(c.kernel);
        expect(relErr(got.out, ref.out)).toBeLessThan(2e-5);
        got.grads.forEach((g, i) => {
          const e = relErr(g, ref.grads[i]);
          if (!(e < 2e-4)) throw new Error(`${c.name} on ${backend}${lean ? ' (valueAndGrads)' : ''}: gradient of input ${i} off by ${e.toExponential(2)}`);
        });
      }
    });
  }

  // Attention has two native paths: whole score rows on the built-in SGEMM (every case above: short sequences) and
  // flash-style key tiles (sequences with more than 1M scores per head); here the tiles, forced on the same cases.
  test.each(CASES.filter((c) => c.kernel === 'AltclipAttention').map((c) => [c.name, c] as const))('native, key tiles forced: %s', async (_, c) => {
    const data = makeInputs(c);
    const ref = await runCase('cpu', c, data, false);
    const before = addon!.setAttentionFullRowLimit(0);
    try {
      const got = await runCase('native', c, data, false);
      expect(got.kernels).toContain(c.kernel);
      expect(relErr(got.out, ref.out)).toBeLessThan(2e-5);
      got.grads.forEach((g, i) => {
        const e = relErr(g, ref.grads[i]);
        if (!(e < 2e-4)) throw new Error(`${c.name} (key tiles): gradient of input ${i} off by ${e.toExponential(2)}`);
      });
    } finally {
      addon!.setAttentionFullRowLimit(before);
    }
  });

  test('setFusedKernels(false) runs the composed ops on native (same results within rounding)', async () => {
    const c = CASES[CASES.length - 1];
    const data = makeInputs(c);
    const composed = await runCase('native', c, data, false, false);
    expect(composed.kernels).not.toContain('AltclipAttention');
    const fused = await runCase('native', c, data, false, true);
    expect(relErr(fused.out, composed.out)).toBeLessThan(2e-5);
  });

  test('attention dropout in training runs in the fused attention kernel (its mask drawn there); with setNativeDropout(false), on the masked softmax', async () => {
    await tf.setBackend('native');
    const xs = makeInputs(CASES[8]).map((d, i) => tf.tensor(d, CASES[8].inputs[i].shape));
    const kernels = async () =>
      (await tf.profile(() => tf.tidy(() => selfAttention(xs[0], attentionWeights(xs), 2, padBias([13, 7, 1], 13), { scaleQuery: false, dropout: 0.1, training: true })))).kernelNames;
    const fusedRun = await kernels();
    expect(fusedRun).toContain('AltclipAttention');
    expect(fusedRun).not.toContain('AltclipSoftmaxMask');
    setNativeDropout(false);
    try {
      const composedRun = await kernels();
      expect(composedRun).toContain('AltclipSoftmaxMask');
      expect(composedRun).not.toContain('AltclipAttention');
    } finally {
      setNativeDropout(true);
    }
    tf.dispose(xs);
  });
});

// Issue 22: the fused kernels are registered for native/wasm only; on tensorflow (tfjs-node) ops.ts runs the composed
// ops it falls back to. Those must give the cpu reference's values and gradients there too (TensorFlow's own kernels).
describeOnTensorflow('composed fallbacks of the fused kernels', (backend) => {
  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    await setupBackend({ backend });
  });

  test.each(CASES.map((c) => [c.name, c] as const))(`${backend}: %s`, async (_, c) => {
    const data = makeInputs(c);
    const ref = await runCase('cpu', c, data, false);
    for (const lean of [false, true]) {
      const got = await runCase(backend, c, data, lean);
      expect(got.kernels).not.toContain(c.kernel);
      expect(relErr(got.out, ref.out)).toBeLessThan(2e-5);
      got.grads.forEach((g, i) => {
        const e = relErr(g, ref.grads[i]);
        if (!(e < 2e-4)) throw new Error(`${c.name} on ${backend}${lean ? ' (valueAndGrads)' : ''}: gradient of input ${i} off by ${e.toExponential(2)}`);
      });
    }
  });
});
