/**
 * Strided views (torch tensors are storage + element offset + shape + strides). Everything is in elements of the
 * storage dtype; byte work is done by the caller with the element size.
 */

/** Element range [lo, hi) of the storage that a view touches (lo === hi for an empty view). */
export function viewSpan(offset: number, shape: number[], stride: number[]): { lo: number; hi: number } {
  if (shape.some((d) => d === 0)) return { lo: offset, hi: offset };
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
  return { lo: offset, hi: last + 1 };
}

/** Row-major contiguous (dims of size 1 may have any stride, as in torch). */
export function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/**
 * Copies the view (element `offset` into `src`, `shape`, `stride`) into a new contiguous row-major byte array.
 * `src` holds raw storage bytes, `elemBytes` per element. Runs along a unit-stride last dim are copied at once.
 */
export function gatherStrided(src: Uint8Array, elemBytes: number, offset: number, shape: number[], stride: number[]): Uint8Array {
  const n = shape.reduce((a, d) => a * d, 1);
  const out = new Uint8Array(n * elemBytes);
  if (n === 0) return out;
  const nd = shape.length;
  if (nd === 0) {
    out.set(src.subarray(offset * elemBytes, (offset + 1) * elemBytes));
    return out;
  }
  const inner = shape[nd - 1];
  const innerStride = stride[nd - 1];
  const idx = new Array(nd - 1).fill(0); // multi-index over the outer dims
  let base = offset; // element offset of idx
  let o = 0;
  const rows = n / inner;
  for (let r = 0; r < rows; r++) {
    if (innerStride === 1) {
      out.set(src.subarray(base * elemBytes, (base + inner) * elemBytes), o);
      o += inner * elemBytes;
    } else {
      for (let i = 0; i < inner; i++) {
        const s = (base + i * innerStride) * elemBytes;
        for (let b = 0; b < elemBytes; b++) out[o++] = src[s + b];
      }
    }
    // odometer increment of the outer index
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      base += stride[d];
      if (idx[d] < shape[d]) break;
      base -= idx[d] * stride[d];
      idx[d] = 0;
    }
  }
  return out;
}
