/**
 * For each flat index of the broadcast batch `outBatch`, the flat index into an operand whose batch dims are
 * `batch` (right-aligned; size-1 or missing dims repeat), as tf.matMul broadcasts. Shared by the native matmul
 * kernels and @altclip/backend's wasm matmul patch.
 */
export function broadcastBatchIndex(outBatch: number[], batch: number[]): Int32Array {
  const n = outBatch.reduce((a, b) => a * b, 1);
  const idx = new Int32Array(n);
  const off = outBatch.length - batch.length;
  const strides: number[] = new Array(outBatch.length).fill(0);
  let s = 1;
  for (let d = batch.length - 1; d >= 0; d--) {
    strides[d + off] = batch[d] === 1 ? 0 : s;
    s *= batch[d];
  }
  for (let o = 0; o < n; o++) {
    let rem = o;
    let j = 0;
    for (let d = outBatch.length - 1; d >= 0; d--) {
      const c = rem % outBatch[d];
      rem = (rem - c) / outBatch[d];
      j += c * strides[d];
    }
    idx[o] = j;
  }
  return idx;
}

/** A wrong setting: setupBackend (@altclip/backend) raises errors with this name instead of trying another backend. */
export function settingError(message: string): Error {
  const e = new Error(message);
  e.name = 'SettingError';
  return e;
}
