/** Invariants of the resamplers; the Pillow references themselves are in preprocess.test.ts. */
import { bicubicCoeffs, resizeBicubicPremultiplied, resizeBicubicU8, resizeNearest } from '@altclip/image';
import { wasmKernels } from '../src/resample-wasm';

function lcg(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
}

test('fixed-point coefficients sum to 2^22 (within rounding) and stay inside the input', () => {
  for (const [i, o] of [[32, 224], [640, 298], [1000, 224], [7, 3], [224, 224], [3, 1000]]) {
    const c = bicubicCoeffs(i, o);
    expect(bicubicCoeffs(i, o)).toBe(c); // cached
    const bad: number[] = [];
    for (let x = 0; x < o; x++) {
      const xmin = c.bounds[2 * x], n = c.bounds[2 * x + 1];
      let s = 0;
      for (let t = 0; t < n; t++) s += c.k[x * c.ksize + t];
      if (xmin < 0 || xmin + n > i || n < 1 || Math.abs(s - 4194304) > n) bad.push(x);
    }
    expect(bad).toEqual([]);
  }
});

test('WebAssembly SIMD passes are bit-identical to the TypeScript passes', () => {
  expect(wasmKernels()).not.toBeNull();
  const r = lcg(7);
  for (let it = 0; it < 80; it++) {
    const w = 1 + Math.floor(r() * 120), h = 1 + Math.floor(r() * 120), c = r() < 0.5 ? 3 : 4;
    const src = new Uint8Array(w * h * c).map(() => (r() < 0.1 ? 255 : Math.floor(r() * 256)));
    const ow = 1 + Math.floor(r() * 150), oh = 1 + Math.floor(r() * 150);
    const x0 = Math.floor(r() * ow), y0 = Math.floor(r() * oh);
    const roi = { x0, y0, x1: x0 + 1 + Math.floor(r() * (ow - x0)), y1: y0 + 1 + Math.floor(r() * (oh - y0)) };
    const a = resizeBicubicU8(src, w, h, c, ow, oh, roi, true);
    const b = resizeBicubicU8(src, w, h, c, ow, oh, roi, false);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
  }
});

test('window (roi) equals resizing everything and cropping', () => {
  const r = lcg(3);
  const w = 97, h = 61, c = 3;
  const src = new Uint8Array(w * h * c).map(() => Math.floor(r() * 256));
  const full = resizeBicubicU8(src, w, h, c, 40, 150, undefined, false);
  const roi = { x0: 5, x1: 33, y0: 20, y1: 120 };
  const part = resizeBicubicU8(src, w, h, c, 40, 150, roi, false);
  const cropped: number[] = [];
  for (let y = roi.y0; y < roi.y1; y++) for (let x = roi.x0; x < roi.x1; x++) for (let b = 0; b < c; b++) cropped.push(full[(y * 40 + x) * c + b]);
  expect(Array.from(part)).toEqual(cropped);
});

test('same size is a copy; constant images stay constant', () => {
  const src = new Uint8Array(10 * 8 * 3).map((_, i) => i % 256);
  expect(resizeBicubicU8(src, 10, 8, 3, 10, 8)).toEqual(src);
  const flat = new Uint8Array(50 * 30 * 3).fill(77);
  expect(resizeBicubicU8(flat, 50, 30, 3, 224, 130).every((v) => v === 77)).toBe(true);
  expect(resizeBicubicU8(flat, 50, 30, 3, 13, 7).every((v) => v === 77)).toBe(true);
});

test('premultiplied RGBA path equals the plain path when opaque, and zeroes transparent colour', () => {
  const r = lcg(5);
  const w = 40, h = 30;
  const rgba = new Uint8Array(w * h * 4).map((_, i) => (i % 4 === 3 ? 255 : Math.floor(r() * 256)));
  expect(resizeBicubicPremultiplied(rgba, w, h, 4, 17, 11)).toEqual(resizeBicubicU8(rgba, w, h, 4, 17, 11));
  const clear = new Uint8Array(w * h * 4).map((_, i) => (i % 4 === 3 ? 0 : 200));
  expect(resizeBicubicPremultiplied(clear, w, h, 4, 17, 11).every((v) => v === 0)).toBe(true);
});

test('nearest: integer upscale replicates pixels (center rule)', () => {
  const src = new Uint8Array([1, 2, 3, 4, 5, 6]); // 3x2, 1 channel
  const up = resizeNearest(src, 3, 2, 1, 6, 4);
  expect(Array.from(up)).toEqual([1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6]);
  // 4 -> 2 picks the second of each pair: centers at 1.0 and 3.0.
  expect(Array.from(resizeNearest(new Uint8Array([10, 20, 30, 40]), 4, 1, 1, 2, 1))).toEqual([20, 40]);
});
