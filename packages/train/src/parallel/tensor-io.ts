import * as tf from '@tensorflow/tfjs-core';
import { backendFields } from '@altclip/backend';

/** The native backend's (packages/native ArenaBackend) view of a tensor's storage, found by shape rather than imported (it is optional). */
interface ArenaViews {
  offsetOf(t: tf.TensorInfo): number;
  view(offset: number, length: number, dtype: 'float32'): Float32Array;
}

function arena(): ArenaViews | undefined {
  const b = backendFields<ArenaViews>();
  return typeof b?.offsetOf === 'function' && typeof b.view === 'function' ? (b as ArenaViews) : undefined;
}

/**
 * Copies a float32 tensor's values into `out` at `offset`: straight from the native backend's memory (one copy), else
 * through dataSync (which already copies on the other backends).
 */
export function readInto(t: tf.Tensor, out: Float32Array, offset: number): void {
  if (t.dtype !== 'float32') throw new Error(`expected a float32 tensor, got ${t.dtype}`);
  const a = arena();
  if (a) {
    try {
      out.set(a.view(a.offsetOf(t), t.size, 'float32'), offset);
      return;
    } catch {
      // not stored in the arena (e.g. a tensor made before the backend switched): the generic path below
    }
  }
  out.set(t.dataSync() as Float32Array, offset);
}

/** A float32 tensor's values as a fresh Float32Array. */
export function readTensor(t: tf.Tensor): Float32Array {
  const out = new Float32Array(t.size);
  readInto(t, out, 0);
  return out;
}
