/**
 * Functional building blocks shared by every tower. Parameters are passed in as tensors (read from the named
 * variable store by the caller), so the same code serves inference, training (tf.variableGrads) and loading.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkpoint } from '@altclip/backend';
import { halfParams, widenTensor } from './half';
import { fusedAttention, fusedBiasAct, fusedDropout, fusedLayerNorm, fusedMaskedSoftmax, keyedDraw } from './fused';
import { bf16KernelsAvailable, linearBf16 } from './bf16-ops';
import { matmulPrecision } from './precision';

export { setFusedKernels, setNativeDropout } from './fused';

/** Named parameter store: HF state-dict key -> tensor (tf.Variable for trainable models). */
export type Params = Map<string, tf.Tensor>;

/** Options every forward function accepts. */
export interface RunOptions {
  /** Enables dropout (HF train mode). Default false (eval). */
  training?: boolean;
  /**
   * Activation checkpointing per encoder layer while a gradient is recorded (HF gradient_checkpointing_enable):
   * each layer keeps only its input for the backward pass and is recomputed there. Same gradients, less memory.
   */
  gradCheckpointing?: boolean;
}

/**
 * Runs one encoder layer `fn(x, bias)`: in a tidy (its intermediates freed when it returns), checkpointed when
 * asked (only the trainable variables under `prefix` get gradients through the checkpoint; the bias is a constant).
 */
export function runLayer<T extends tf.Tensor>(params: Params, prefix: string, x: T, bias: tf.Tensor | undefined, opts: RunOptions, fn: (x: T, bias: tf.Tensor | undefined) => T): T {
  if (!opts.gradCheckpointing) return tf.tidy(() => fn(x, bias));
  const trainable: tf.Tensor[] = [];
  for (const [k, t] of params) if (k.startsWith(prefix) && t instanceof tf.Variable && t.trainable) trainable.push(t);
  // The backward pass recomputes fn outside withDropoutKeys' scope: capture the keys now so the recomputation draws
  // the forward's per-sample masks (checkpoint replays the Math.random draws; the keys are the other half).
  const keys = sampleKeys;
  const layer = (h: tf.Tensor, consts: tf.Tensor[]) => (keys ? withDropoutKeys(keys, () => fn(h as T, consts[0])) : fn(h as T, consts[0]));
  return tf.tidy(() => checkpoint(layer, x, trainable, bias ? [bias] : [])) as T;
}

/** tf.tidy for functions returning (nested) objects of tensors typed as interfaces. */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/** Returns the parameter `name`, with a clear error when it is missing. */
export function param(params: Params, name: string): tf.Tensor {
  const t = params.get(name);
  if (t) return t;
  // A frozen parameter kept in bf16/f16 (half.ts): widened for this use, freed by the enclosing tidy.
  const h = halfParams(params)?.get(name);
  if (h) return widenTensor(name, h);
  throw new Error(`model parameter '${name}' is missing`);
}

/**
 * torch.nn.Linear: y = x W^T + b with W [out, in]; x [..., in] -> [..., out]. `act` (an HF hidden_act name)
 * applies that activation after the bias; gelu/quick_gelu then run as one fused bias+activation kernel when available.
 * Under a bf16 autocast (precision.ts) the product takes bf16 inputs and saves its input in bf16 (bf16-ops.ts).
 */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor, act?: string): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1];
  const outDim = w.shape[0];
  const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, inDim]);
  let y: tf.Tensor;
  if (matmulPrecision() === 'bf16' && w.rank === 2 && x2.dtype === 'float32' && w.dtype === 'float32' && x2.size > 0 && bf16KernelsAvailable()) {
    y = linearBf16(x2 as tf.Tensor2D, w as tf.Tensor2D, act ? undefined : b);
    if (b && act) y = biasAct(y, b, act);
    else if (act) y = activation(act)(y);
  } else if (b && !act) {
    // One kernel: the bias is the matmul's epilogue (no second pass allocating a copy of y); same sums as matMul + add.
    y = tf.fused.matMul({ a: x2 as tf.Tensor2D, b: w as tf.Tensor2D, transposeB: true, bias: b });
  } else {
    y = tf.matMul(x2 as tf.Tensor2D, w as tf.Tensor2D, false, true);
    if (b && act) y = biasAct(y, b, act);
    else if (act) y = activation(act)(y);
  }
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outDim]);
}

/** act(x + b) with b [N] over x [..., N]: one fused kernel for gelu/quick_gelu when available. */
export function biasAct(x: tf.Tensor, b: tf.Tensor, act: string): tf.Tensor {
  return fusedBiasAct(x, b, act) ?? activation(act)(tf.add(x, b));
}

/** torch.nn.LayerNorm over the last axis: biased variance, eps inside the sqrt. */
export function layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const fused = fusedLayerNorm(x, w, b, eps);
  if (fused) return fused;
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), axis, true);
  const normed = tf.mul(centred, tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, w), b);
}

/** Exact (erf) GELU, HF "gelu": 0.5 x (1 + erf(x / sqrt 2)). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/** HF "quick_gelu": x * sigmoid(1.702 x). */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

export function activation(name: string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu;
    case 'quick_gelu':
      return quickGelu;
    case 'relu':
      return (x) => tf.relu(x);
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      // tanh approximation; not used by AltCLIP/CLIP but accepted for completeness.
      return (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));
    default:
      throw new Error(`unsupported hidden_act '${name}' (supported: gelu, quick_gelu, relu, gelu_new)`);
  }
}

/**
 * Per-sample dropout keys (see withDropoutKeys): one 32-bit key per row of the batch, or undefined (masks drawn
 * for the whole tensor from one Math.random draw, as tf.dropout).
 */
let sampleKeys: Uint32Array | undefined;

/**
 * Runs `fn` with dropout masks keyed per sample: a tensor whose axis 0 holds the batch (keys.length rows, or a
 * multiple of it for [B*L, ...] layouts) draws each sample's mask from its own stream, seeded by (the sample's key,
 * one Math.random draw per dropout call). With keys that name the global sample (seed, step, position in the global
 * batch) and Math.random seeded per step, a sample's masks do not depend on which micro-batch or rank computes it,
 * and activation checkpointing (which replays Math.random draws) recomputes the same masks.
 */
export function withDropoutKeys<T>(keys: ArrayLike<number>, fn: () => T): T {
  const outer = sampleKeys;
  sampleKeys = Uint32Array.from(keys);
  try {
    return fn();
  } finally {
    sampleKeys = outer;
  }
}

/** splitmix32-style finaliser: a well-mixed 32-bit stream seed from two integers. */
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Keep-mask [shape] as bool under per-sample keys. Axis 0 holds keys.length samples (or a multiple: [B*L, ...] is
 * read as [B, L, ...]); every run of the last axis draws from its own mulberry32 stream, seeded by hashing the call's
 * draw, the sample's key and the run's index on each middle axis separately. So a position's mask does not depend on
 * how long the padded sequence is (a micro-batch pads to its own longest text): element (b, h, q, k) of attention
 * probabilities gets the same draw for any Lq, Lk > q, k. The native kernels (@altclip/native csrc/keyed.h) draw
 * the same masks bit for bit; this is the path of the other backends.
 */
function keyedKeepMask(shape: number[], keepProb: number, keys: Uint32Array, call: number): tf.Tensor {
  const n = keys.length;
  if (shape.length === 0 || shape[0] % n !== 0) throw new Error(`dropout: a tensor of shape [${shape}] under per-sample keys for ${n} samples (axis 0 must hold the batch)`);
  const dims = [n, shape[0] / n, ...shape.slice(1)];
  const last = shape.length > 1 ? dims.pop()! : 1;
  const mids = dims.slice(1); // sizes of the middle axes
  const out = new Uint8Array(shape.reduce((a, b) => a * b, 1));
  const limit = keepProb * 4294967296; // u < keepProb with u = draw / 2^32
  const idx = new Array<number>(mids.length).fill(0);
  const seeds = new Array<number>(mids.length + 1);
  let o = 0;
  for (let k = 0; k < n; k++) {
    seeds[0] = mix(call, keys[k]);
    for (let j = 0; j < mids.length; j++) seeds[j + 1] = mix(seeds[j], (idx[j] = 0));
    for (;;) {
      let a = seeds[mids.length];
      for (let e = 0; e < last; e++) {
        a = (a + 0x6d2b79f5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        out[o++] = ((t ^ (t >>> 14)) >>> 0) < limit ? 1 : 0;
      }
      // next middle index (row-major); refresh the seeds of the axes that changed
      let j = mids.length - 1;
      while (j >= 0 && ++idx[j] === mids[j]) idx[j--] = 0;
      if (j < 0) break;
      for (let q = j; q < mids.length; q++) seeds[q + 1] = mix(seeds[q], idx[q]);
    }
  }
  return tf.tensor(out, shape, 'bool');
}

/**
 * tf.dropout's values (same random draws, same float arithmetic) with PyTorch's memory: the backward pass keeps
 * only the keep-mask as bool (1 byte per element) instead of tf.dropout's input and float multiplier (8 bytes).
 * Under withDropoutKeys the masks are drawn per sample instead (same keep probability and scaling).
 */
export function dropout(x: tf.Tensor, rate: number, training: boolean | undefined): tf.Tensor {
  if (!training || !(rate > 0)) return x;
  if (!(rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
  const keepProb = 1 - rate;
  const keys = sampleKeys;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    // Keyed masks (data parallelism) are drawn per sample, by the native kernel where it runs, else in JS (the same
    // masks); unkeyed, the native kernel draws its mask in C++ from a counter-based generator seeded by one
    // Math.random draw (so a seeded step stays reproducible), else as tf.dropout: multiplier =
    // floor(U[0,1) + keepProb) / keepProb, one Math.random draw seeds U.
    const call = keys ? keyedDraw() : 0;
    const native = fusedDropout(input, rate, keys ? { keys, call } : undefined);
    const keep = native
      ? native.keep
      : keys
        ? keyedKeepMask(input.shape, keepProb, keys, call)
        : tf.tidy(() => tf.cast(tf.floor(tf.add(tf.randomUniform(input.shape, 0, 1, 'float32'), keepProb)), 'bool'));
    save([keep]);
    const value = native ? native.y : tf.tidy(() => tf.mul(input, tf.div(tf.cast(keep, 'float32'), keepProb)));
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.mul(dy as tf.Tensor, tf.div(tf.cast(saved[0], 'float32'), keepProb)),
    };
  });
  return f(x);
}

/** float32 finfo.min, the value HF adds for masked attention entries. */
export const MASK_MIN = -3.4028234663852886e38;

/** [B, L] {0,1} attention mask -> additive bias [B, 1, 1, L] (0 keep, finfo.min drop). */
export function paddingBias(mask: tf.Tensor): tf.Tensor4D {
  const [b, l] = mask.shape;
  return tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, 'float32')), MASK_MIN), [b, 1, 1, l]) as tf.Tensor4D;
}

/** Causal additive bias [1, 1, L, L]: finfo.min above the diagonal. */
export function causalBias(len: number): tf.Tensor4D {
  const data = new Float32Array(len * len);
  for (let i = 0; i < len; i++) for (let j = i + 1; j < len; j++) data[i * len + j] = MASK_MIN;
  return tf.tensor4d(data, [1, 1, len, len]);
}

export interface AttentionWeights {
  q: [tf.Tensor, tf.Tensor];
  k: [tf.Tensor, tf.Tensor];
  v: [tf.Tensor, tf.Tensor];
  o: [tf.Tensor, tf.Tensor];
}

/**
 * Multi-head self-attention. x [B, L, H]; bias broadcastable to [B, heads, L, L] or undefined.
 * `scaleQuery` (CLIP) multiplies q by d^-0.5 before QK^T; otherwise (BERT) the scores are divided by sqrt(d).
 */
export function selfAttention(
  x: tf.Tensor,
  w: AttentionWeights,
  heads: number,
  bias: tf.Tensor | undefined,
  opts: { scaleQuery: boolean; dropout: number; training?: boolean },
): tf.Tensor {
  const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => linear(x, w[n][0], w[n][1])); // [B, L, H]
  return linear(attention(q, k, v, heads, bias, opts), w.o[0], w.o[1]);
}

/**
 * softmax(q k^T / sqrt(d) + bias) v over `heads` heads: q [B, Lq, H], k and v [B, Lk, H] (heads are column
 * blocks, as the projections produce them) -> [B, Lq, H]. One fused kernel when available (no [B, heads, Lq, Lk]
 * scores in memory), attention dropout included (its mask drawn in the kernel, keyed per sample or not); otherwise
 * the composed ops below.
 */
export function attention(
  qx: tf.Tensor,
  kx: tf.Tensor,
  vx: tf.Tensor,
  heads: number,
  bias: tf.Tensor | undefined,
  opts: { scaleQuery: boolean; dropout: number; training?: boolean },
): tf.Tensor {
  const [B, Lq, H] = qx.shape as number[];
  const Lk = kx.shape[1] as number;
  const d = H / heads;
  const scale = opts.scaleQuery ? d ** -0.5 : 1 / Math.sqrt(d);
  // Dropout keyed per sample (withDropoutKeys) passes the keys: the fused kernel draws keyedKeepMask's masks.
  const fused = fusedAttention(qx, kx, vx, heads, bias, scale, { bf16: matmulPrecision() === 'bf16', dropout: opts.training ? opts.dropout : 0, keys: sampleKeys });
  if (fused) return fused;
  const split = (t: tf.Tensor, L: number) => tf.transpose(tf.reshape(t, [B, L, heads, d]), [0, 2, 1, 3]); // [B, heads, L, d]
  const q = split(opts.scaleQuery ? tf.mul(qx, d ** -0.5) : qx, Lq);
  const k = split(kx, Lk);
  const v = split(vx, Lk);
  let scores = tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D, false, true); // [B, heads, Lq, Lk]
  let probs = fusedMaskedSoftmax(scores, bias, opts.scaleQuery ? 1 : 1 / Math.sqrt(d));
  if (!probs) {
    if (!opts.scaleQuery) scores = tf.div(scores, Math.sqrt(d));
    if (bias) scores = tf.add(scores, bias);
    probs = tf.softmax(scores, -1);
  }
  probs = dropout(probs, opts.dropout, opts.training);
  return tf.reshape(tf.transpose(tf.matMul(probs as tf.Tensor4D, v as tf.Tensor4D), [0, 2, 1, 3]), [B, Lq, H]);
}

/**
 * Embedding lookup table[ids] ([V, H], [B, L] -> [B, L, H]) with torch's padding_idx semantics: the
 * forward uses row `paddingIdx` like any other, but that row receives NO gradient. Implemented with a custom
 * gradient (gather's own gradient is the unsorted segment sum; here the pad positions are masked out first),
 * so any tf.variableGrads over the model already gives torch's gradients (no separate masking step needed).
 */
export function embedding(table: tf.Tensor, ids: tf.Tensor, paddingIdx?: number): tf.Tensor {
  if (paddingIdx === undefined || paddingIdx < 0) return tf.gather(table, ids);
  const [V, H] = table.shape;
  // Only the table goes through customGrad (it would cast an int input to float); ids are captured and saved
  // (save keeps a copy only while a tape is recording, so inference does not leak it).
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [t, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([ids]);
    return {
      value: tf.gather(t, ids),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const flat = tf.reshape(saved[0], [-1]) as tf.Tensor1D;
        const keep = tf.reshape(tf.cast(tf.notEqual(flat, paddingIdx), 'float32'), [-1, 1]);
        const rows = tf.mul(tf.reshape(dy as tf.Tensor, [-1, H]), keep);
        return [tf.unsortedSegmentSum(rows, flat, V)];
      },
    };
  });
  return f(table);
}

/** Throws a clear error for token ids outside [0, vocab) (tfjs gather would silently read garbage on some backends). */
export function checkTokenIds(ids: tf.Tensor, vocab: number, what: string): void {
  const data = ids.dataSync();
  for (let i = 0; i < data.length; i++) {
    if (!(data[i] >= 0 && data[i] < vocab))
      throw new Error(`${what}: token id ${data[i]} at flat position ${i} is outside the vocabulary [0, ${vocab})`);
  }
}

/** Row gather from a host Float32Array table [V, H] (keeps a huge embedding table out of the backend heap). */
export function hostEmbedding(table: Float32Array, hidden: number, ids: Int32Array | number[], shape: number[]): tf.Tensor {
  const n = ids.length;
  const out = new Float32Array(n * hidden);
  const V = table.length / hidden;
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < V)) throw new Error(`token id ${id} at position ${i} is outside the vocabulary (size ${V})`);
    out.set(table.subarray(id * hidden, (id + 1) * hidden), i * hidden);
  }
  return tf.tensor(out, [...shape, hidden]);
}

/** x / ||x||_2 along the last axis (HF's plain norm, no epsilon). */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.div(x, tf.norm(x, 'euclidean', -1, true));
}

/** Accepts a tensor or nested arrays and returns an int32 [B, L] tensor (caller disposes if it created it). */
export function asInt2D(x: tf.Tensor | number[][], what: string): tf.Tensor2D {
  const t = x instanceof tf.Tensor ? x : tf.tensor2d(x, undefined, 'int32');
  if (t.rank !== 2) throw new Error(`${what}: expected a [batch, length] tensor, got shape [${t.shape}]`);
  return (t.dtype === 'int32' ? t : tf.cast(t, 'int32')) as tf.Tensor2D;
}
