/**
 * Frozen parameters stored in bf16 or f16 (`--frozen-dtype`): a locked image tower or any other frozen tensor
 * keeps half the bytes, and is widened to float32 when a forward pass reads it (compute stays f32, as with
 * torch autocast on CPU). Trainable parameters and AdamW moments are never touched.
 *
 * The half copies sit beside a model's parameter map (a WeakMap keyed by it), so `param()` finds them, saving
 * writes them in their dtype (BF16/F16 safetensors, which HF and this project load), and nothing else changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeRaw, encodeRaw } from '@altclip/checkpoint';

export type FrozenDtype = 'bf16' | 'f16';
export const FROZEN_DTYPES: FrozenDtype[] = ['bf16', 'f16'];

export interface HalfParam {
  dtype: FrozenDtype;
  shape: number[];
  /** little-endian 16-bit values, as in a safetensors file */
  bytes: Buffer;
}

const stores = new WeakMap<Map<string, tf.Tensor>, Map<string, HalfParam>>();
const SAFETENSORS_DTYPE = { bf16: 'BF16', f16: 'F16' } as const;


export function halfParams(params: Map<string, tf.Tensor>): Map<string, HalfParam> | undefined {
  return stores.get(params);
}

export function safetensorsDtype(h: HalfParam): 'BF16' | 'F16' {
  return SAFETENSORS_DTYPE[h.dtype];
}

/** The float32 values of a half parameter. */
export function widen(name: string, h: HalfParam): Float32Array {
  return decodeRaw('(memory)', name, SAFETENSORS_DTYPE[h.dtype], h.shape, h.bytes).data as Float32Array;
}

/** A float32 tensor of a half parameter, owned by the caller (or the enclosing tidy). */
export function widenTensor(name: string, h: HalfParam): tf.Tensor {
  return tf.tensor(widen(name, h), h.shape, 'float32');
}

/**
 * Moves `keys` of `params` (frozen parameters: the caller decides) to half storage; their f32 tensors are
 * disposed. Tensors of rank < 2 stay f32. Returns the keys moved and the bytes freed.
 */
export function storeFrozenAsHalf(params: Map<string, tf.Tensor>, keys: Iterable<string>, dtype: FrozenDtype): { moved: string[]; bytesSaved: number } {
  if (!FROZEN_DTYPES.includes(dtype)) throw new Error(`frozen dtype must be one of ${FROZEN_DTYPES.join(', ')}, got '${dtype}'`);
  let store = stores.get(params);
  if (!store) stores.set(params, (store = new Map()));
  const moved: string[] = [];
  let bytesSaved = 0;
  for (const k of keys) {
    const t = params.get(k);
    // Vectors and scalars (biases, LayerNorm, class embedding, logit_scale) stay f32: negligible bytes.
    if (!t || t.dtype !== 'float32' || t.rank < 2) continue;
    if (t instanceof tf.Variable && t.trainable) throw new Error(`--frozen-dtype: parameter '${k}' is trainable; only frozen parameters can be stored in ${dtype}`);
    const values = t.dataSync() as Float32Array;
    store.set(k, { dtype, shape: [...t.shape], bytes: encodeRaw(k, SAFETENSORS_DTYPE[dtype], values) });
    params.delete(k);
    t.dispose();
    moved.push(k);
    bytesSaved += t.size * 2;
  }
  return { moved, bytesSaved };
}
