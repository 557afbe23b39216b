/**
 * Pieces shared by the train-step and vs-pytorch benchmarks (not a bench itself: scripts/bench.js skips files
 * starting with `_`): the dense post-LN encoder (BERT/XLM-R layout) both time, its deterministic batch, and the
 * per-kernel profiler. vs-pytorch's model must stay equal to bert_case() in bench/python/vs_pytorch.py.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attention, biasAct, layerNorm } from '@altclip/models';

export interface EncoderDims {
  layers: number;
  hidden: number;
  heads: number;
  ffn: number;
  batch: number;
  seq: number;
  vocab: number;
}

export type EncoderParams = Map<string, tf.Variable>;

/** N(0, 0.02) weights (seeded in a fixed order), LayerNorm gains 1, biases 0; variables named `prefix + key`. */
export function initEncoderParams(d: EncoderDims, prefix = ''): EncoderParams {
  const p: EncoderParams = new Map();
  let seed = 1;
  // tidy frees each initial value (a variable keeps its own reference to the data)
  const add = (name: string, init: () => tf.Tensor) => p.set(name, tf.tidy(() => tf.variable(init(), true, prefix + name)));
  const normal = (name: string, shape: number[]) => add(name, () => tf.randomNormal(shape, 0, 0.02, 'float32', seed++));
  const ones = (name: string, n: number) => add(name, () => tf.ones([n]));
  const zeros = (name: string, n: number) => add(name, () => tf.zeros([n]));
  normal('tok', [d.vocab, d.hidden]);
  normal('pos', [d.seq, d.hidden]);
  ones('emb.ln.g', d.hidden);
  zeros('emb.ln.b', d.hidden);
  for (let l = 0; l < d.layers; l++) {
    for (const w of ['q', 'k', 'v', 'o']) {
      normal(`${l}.${w}.w`, [d.hidden, d.hidden]);
      zeros(`${l}.${w}.b`, d.hidden);
    }
    normal(`${l}.ffn1.w`, [d.hidden, d.ffn]);
    zeros(`${l}.ffn1.b`, d.ffn);
    normal(`${l}.ffn2.w`, [d.ffn, d.hidden]);
    zeros(`${l}.ffn2.b`, d.hidden);
    for (const n of ['ln1', 'ln2']) {
      ones(`${l}.${n}.g`, d.hidden);
      zeros(`${l}.${n}.b`, d.hidden);
    }
  }
  return p;
}

/** Deterministic ids and mask [B*S]; the last quarter of each row after the first is padding (mask 0). */
export function encoderBatch(d: EncoderDims): { ids: Int32Array; mask: Int32Array } {
  const { batch: B, seq: S, vocab: V } = d;
  const ids = new Int32Array(B * S);
  const mask = new Int32Array(B * S);
  for (let b = 0; b < B; b++) {
    const len = b === 0 ? S : Math.max(1, Math.ceil(S * 0.75));
    for (let s = 0; s < S; s++) {
      ids[b * S + s] = s < len ? (b * 7919 + s * 104729) % V : 1;
      mask[b * S + s] = s < len ? 1 : 0;
    }
  }
  return { ids, mask };
}

/**
 * Mean-pooled encoder output [B, H]: embeddings + positions, LayerNorm, per layer masked multi-head attention and
 * an exact-GELU FFN, each followed by residual + LayerNorm. ids [B*S] int32; maskBias [B, 1, 1, S] (0 or -1e9);
 * poolMask [B, S, 1] float32 (1 = token).
 */
export function encoderForward(p: EncoderParams, d: EncoderDims, ids: tf.Tensor1D, maskBias: tf.Tensor, poolMask: tf.Tensor): tf.Tensor2D {
  const { batch: B, seq: S, hidden: H, heads: NH } = d;
  const w = (k: string) => p.get(k)!;
  // @altclip/models' ops: fused native kernels (LayerNorm, bias + GELU, attention) where registered, else composed.
  const ln = (x: tf.Tensor, g: string, b: string) => layerNorm(x, w(g), w(b), 1e-12);
  const matmul = (x: tf.Tensor, name: string) => tf.matMul(x as tf.Tensor2D, w(`${name}.w`) as tf.Tensor2D);
  const dense = (x: tf.Tensor, name: string) => tf.add(matmul(x, name), w(`${name}.b`));
  const emb = tf.add(tf.reshape(tf.gather(w('tok'), ids), [B, S, H]), w('pos'));
  let x = ln(tf.reshape(emb, [B * S, H]), 'emb.ln.g', 'emb.ln.b'); // [B*S, H]
  for (let l = 0; l < d.layers; l++) {
    const [q, k, v] = ['q', 'k', 'v'].map((n) => tf.reshape(dense(x, `${l}.${n}`), [B, S, H]));
    const ctx = tf.reshape(attention(q, k, v, NH, maskBias, { scaleQuery: false, dropout: 0 }), [B * S, H]); // softmax(q k^T / sqrt(dh) + mask) v
    x = ln(tf.add(x, dense(ctx, `${l}.o`)), `${l}.ln1.g`, `${l}.ln1.b`);
    x = ln(tf.add(x, dense(biasAct(matmul(x, `${l}.ffn1`), w(`${l}.ffn1.b`), 'gelu'), `${l}.ffn2`)), `${l}.ln2.g`, `${l}.ln2.b`);
  }
  return tf.div(tf.sum(tf.mul(tf.reshape(x, [B, S, H]), poolMask), 1), tf.sum(poolMask, 1)) as tf.Tensor2D;
}

/**
 * Wraps every kernel of `backend` with a timer (kernels run synchronously on cpu/wasm, so wall time is kernel
 * time). Returns a function that unwraps them and prints the `top` kernels under `title(total ms)`.
 */
export function profileKernels(backend: string, title: (totalMs: number) => string, top: number): () => void {
  const total = new Map<string, { ms: number; calls: number }>();
  const orig = tf.getKernelsForBackend(backend);
  for (const k of orig) {
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      setupFunc: undefined,
      kernelFunc: (args) => {
        const t0 = performance.now();
        try {
          return k.kernelFunc(args);
        } finally {
          const e = total.get(k.kernelName) ?? { ms: 0, calls: 0 };
          e.ms += performance.now() - t0;
          e.calls++;
          total.set(k.kernelName, e);
        }
      },
    });
  }
  return () => {
    for (const k of orig) {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    }
    const all = [...total.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const sum = all.reduce((a, [, e]) => a + e.ms, 0);
    console.log(title(sum));
    for (const [name, e] of all.slice(0, top)) console.log(`    ${name.padEnd(22)} ${e.ms.toFixed(0).padStart(7)} ms ${((100 * e.ms) / sum).toFixed(1).padStart(5)}%  ${e.calls} calls`);
  };
}
