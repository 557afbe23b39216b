/**
 * Pillow-exact resampling (Pillow 9.x src/libImaging/Resample.c and Geometry.c), reimplemented:
 * separable convolution, horizontal pass first, 8-bit intermediates, 22-bit fixed-point coefficients.
 * Every function takes an output window (`roi`) of the full resized image so that resize + center crop only
 * computes the pixels that survive the crop; each output pixel depends only on its own coefficients, so the
 * result is identical to resizing everything and cropping afterwards.
 */
import { resizeU8Wasm } from './resample-wasm';

/** Output window [x0, x1) x [y0, y1) in resized-image coordinates. */
export interface Roi {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface Coeffs {
  inSize: number;
  outSize: number;
  /** Max taps per output position (row stride of `k`/`kd`). */
  ksize: number;
  /** Per output position: first input index, number of taps. */
  bounds: Int32Array;
  /** Normalised coefficients as doubles (used by the 32-bit path). */
  kd: Float64Array;
  /** 22-bit fixed-point coefficients (8-bit path). */
  k: Int32Array;
}

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
const CLIP_HI = 1 << (PRECISION_BITS + 8);

function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

const coeffCache = new Map<string, Coeffs>();
const COEFF_CACHE_MAX = 512;


/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for BICUBIC (support 2), box = whole input.
 * Cached by (inSize, outSize): fixed-size datasets (CIFAR-10 32 -> 224) compute them once.
 */
export function bicubicCoeffs(inSize: number, outSize: number): Coeffs {
  const key = `${inSize}:${outSize}`;
  const hit = coeffCache.get(key);
  if (hit) return hit;
  const scale = inSize / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kd = new Float64Array(outSize * ksize);
  const k = new Int32Array(outSize * ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) truncates toward zero; the clamp to 0 makes trunc vs floor irrelevant for xmin.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const o = xx * ksize;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubicFilter((x + xmin - center + 0.5) * ss);
      kd[o + x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      if (ww !== 0.0) kd[o + x] /= ww;
      const v = kd[o + x];
      k[o + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const c: Coeffs = { inSize, outSize, ksize, bounds, kd, k };
  if (coeffCache.size >= COEFF_CACHE_MAX) coeffCache.clear();
  coeffCache.set(key, c);
  return c;
}

function clip8(s: number): number {
  if (s <= 0) return 0;
  if (s >= CLIP_HI) return 255;
  return s >> PRECISION_BITS;
}

/** Input rows [r0, r1) the vertical pass reads for output rows [y0, y1). */
function rowSpan(cv: Coeffs, y0: number, y1: number): [number, number] {
  let r0 = Infinity;
  let r1 = -Infinity;
  for (let y = y0; y < y1; y++) {
    const a = cv.bounds[2 * y];
    r0 = Math.min(r0, a);
    r1 = Math.max(r1, a + cv.bounds[2 * y + 1]);
  }
  return r1 > r0 ? [r0, r1] : [0, 0];
}

/** Horizontal 8-bit pass: input rows [r0, r1) -> (r1-r0) x (x1-x0) x c. */
function horizontal8(src: Uint8Array, w: number, c: number, r0: number, r1: number, ch: Coeffs, x0: number, x1: number): Uint8Array {
  const ow = x1 - x0;
  const out = new Uint8Array((r1 - r0) * ow * c);
  const { bounds, k, ksize } = ch;
  let o = 0;
  for (let y = r0; y < r1; y++) {
    const row = y * w * c;
    for (let xx = x0; xx < x1; xx++) {
      const xmin = bounds[2 * xx];
      const n = bounds[2 * xx + 1];
      const ko = xx * ksize;
      let p = row + xmin * c;
      if (c === 3) {
        let s0 = HALF, s1 = HALF, s2 = HALF;
        for (let t = 0; t < n; t++, p += 3) {
          const kk = k[ko + t];
          s0 += src[p] * kk;
          s1 += src[p + 1] * kk;
          s2 += src[p + 2] * kk;
        }
        out[o++] = clip8(s0);
        out[o++] = clip8(s1);
        out[o++] = clip8(s2);
      } else if (c === 1) {
        let s0 = HALF;
        for (let t = 0; t < n; t++) s0 += src[p + t] * k[ko + t];
        out[o++] = clip8(s0);
      } else {
        for (let b = 0; b < c; b++) {
          let s = HALF;
          for (let t = 0, q = p + b; t < n; t++, q += c) s += src[q] * k[ko + t];
          out[o++] = clip8(s);
        }
      }
    }
  }
  return out;
}

/**
 * Vertical 8-bit pass over `tmp` (rows starting at input row r0, width ow, c channels) -> rows [y0, y1).
 * Four adjacent bytes per inner loop keep the sums in registers; int32 math is exact here (|sum| < 2^31).
 */
function vertical8(tmp: Uint8Array, ow: number, c: number, r0: number, cv: Coeffs, y0: number, y1: number): Uint8Array {
  const stride = ow * c;
  const out = new Uint8Array((y1 - y0) * stride);
  const { bounds, k, ksize } = cv;
  let o = 0;
  for (let yy = y0; yy < y1; yy++) {
    const n = bounds[2 * yy + 1];
    const ko = yy * ksize;
    const base = (bounds[2 * yy] - r0) * stride;
    let i = 0;
    for (; i + 3 < stride; i += 4) {
      let s0 = HALF, s1 = HALF, s2 = HALF, s3 = HALF;
      for (let t = 0, p = base + i; t < n; t++, p += stride) {
        const kk = k[ko + t];
        s0 = (s0 + Math.imul(tmp[p], kk)) | 0;
        s1 = (s1 + Math.imul(tmp[p + 1], kk)) | 0;
        s2 = (s2 + Math.imul(tmp[p + 2], kk)) | 0;
        s3 = (s3 + Math.imul(tmp[p + 3], kk)) | 0;
      }
      out[o++] = clip8(s0);
      out[o++] = clip8(s1);
      out[o++] = clip8(s2);
      out[o++] = clip8(s3);
    }
    for (; i < stride; i++) {
      let s = HALF;
      for (let t = 0, p = base + i; t < n; t++, p += stride) s = (s + Math.imul(tmp[p], k[ko + t])) | 0;
      out[o++] = clip8(s);
    }
  }
  return out;
}

/** Copies the window `roi` out of an HWC image (no resampling). */
export function cropHWC<T extends Uint8Array | Int32Array>(src: T, w: number, c: number, roi: Roi): T {
  const ow = roi.x1 - roi.x0;
  const out = new (src.constructor as { new (n: number): T })((roi.y1 - roi.y0) * ow * c);
  for (let y = roi.y0; y < roi.y1; y++) {
    out.set(src.subarray((y * w + roi.x0) * c, (y * w + roi.x1) * c), (y - roi.y0) * ow * c);
  }
  return out;
}

/**
 * Pillow BICUBIC resize of an 8-bit HWC image (any channel count; channels are independent) to outW x outH,
 * returning only the window `roi` (default: everything). A dimension whose size is unchanged is not resampled,
 * as in Pillow (the pass is skipped).
 */
export function resizeBicubicU8(src: Uint8Array, w: number, h: number, c: number, outW: number, outH: number, roi?: Roi, useWasm = true): Uint8Array {
  const r = roi ?? { x0: 0, y0: 0, x1: outW, y1: outH };
  const needH = outW !== w;
  const needV = outH !== h;
  if (!needH && !needV) return cropHWC(src, w, c, r);
  const cv = bicubicCoeffs(h, outH);
  const [r0, r1] = needV ? rowSpan(cv, r.y0, r.y1) : [r.y0, r.y1];
  if (useWasm && (c === 3 || c === 4)) {
    const out = resizeU8Wasm(src, w, c, needH ? bicubicCoeffs(w, outW) : null, needV ? cv : null, r, r0, r1);
    if (out) return out;
  }
  let tmp: Uint8Array;
  if (needH) tmp = horizontal8(src, w, c, r0, r1, bicubicCoeffs(w, outW), r.x0, r.x1);
  else tmp = cropHWC(src, w, c, { x0: r.x0, x1: r.x1, y0: r0, y1: r1 });
  return needV ? vertical8(tmp, r.x1 - r.x0, c, r0, cv, r.y0, r.y1) : tmp;
}

/**
 * Pillow's resize of 32-bit integer images (mode I): double coefficients, ROUND_UP per pass, no clipping.
 * Single channel.
 */
export function resizeBicubicI32(src: Int32Array, w: number, h: number, outW: number, outH: number, roi?: Roi): Int32Array {
  const r = roi ?? { x0: 0, y0: 0, x1: outW, y1: outH };
  const needH = outW !== w;
  const needV = outH !== h;
  if (!needH && !needV) return cropHWC(src, w, 1, r);
  const roundUp = (f: number) => Math.trunc(f >= 0.0 ? f + 0.5 : f - 0.5);
  const cv = bicubicCoeffs(h, outH);
  const [r0, r1] = needV ? rowSpan(cv, r.y0, r.y1) : [r.y0, r.y1];
  const ow = r.x1 - r.x0;
  let tmp: Int32Array;
  if (needH) {
    const ch = bicubicCoeffs(w, outW);
    tmp = new Int32Array((r1 - r0) * ow);
    for (let y = r0, o = 0; y < r1; y++) {
      for (let xx = r.x0; xx < r.x1; xx++) {
        const xmin = ch.bounds[2 * xx], n = ch.bounds[2 * xx + 1], ko = xx * ch.ksize;
        let s = 0.0;
        for (let t = 0; t < n; t++) s += src[y * w + xmin + t] * ch.kd[ko + t];
        tmp[o++] = roundUp(s);
      }
    }
  } else tmp = cropHWC(src, w, 1, { x0: r.x0, x1: r.x1, y0: r0, y1: r1 });
  if (!needV) return tmp;
  const out = new Int32Array((r.y1 - r.y0) * ow);
  for (let yy = r.y0, o = 0; yy < r.y1; yy++) {
    const ymin = cv.bounds[2 * yy], n = cv.bounds[2 * yy + 1], ko = yy * cv.ksize;
    for (let x = 0; x < ow; x++) {
      let s = 0.0;
      for (let t = 0; t < n; t++) s += tmp[(ymin - r0 + t) * ow + x] * cv.kd[ko + t];
      out[o++] = roundUp(s);
    }
  }
  return out;
}

/**
 * Pillow NEAREST resize (ImagingScaleAffine): sample positions accumulate `in/out` step by step from
 * `step * 0.5`, as the C code does, so float drift matches too.
 */
export function resizeNearest<T extends Uint8Array | Int32Array>(src: T, w: number, h: number, c: number, outW: number, outH: number, roi?: Roi): T {
  const r = roi ?? { x0: 0, y0: 0, x1: outW, y1: outH };
  if (outW === w && outH === h) return cropHWC(src, w, c, r);
  const positions = (inSize: number, outSize: number): Int32Array => {
    const a = inSize / outSize;
    const tab = new Int32Array(outSize);
    let xo = a * 0.5;
    for (let x = 0; x < outSize; x++) {
      const xin = xo < 0.0 ? -1 : Math.trunc(xo);
      tab[x] = xin >= 0 && xin < inSize ? xin : -1;
      xo += a;
    }
    return tab;
  };
  const xt = positions(w, outW);
  const yt = positions(h, outH);
  const ow = r.x1 - r.x0;
  const out = new (src.constructor as { new (n: number): T })((r.y1 - r.y0) * ow * c);
  for (let y = r.y0; y < r.y1; y++) {
    const yi = yt[y];
    if (yi < 0) continue;
    for (let x = r.x0; x < r.x1; x++) {
      const xi = xt[x];
      if (xi < 0) continue;
      const s = (yi * w + xi) * c;
      const d = ((y - r.y0) * ow + (x - r.x0)) * c;
      for (let b = 0; b < c; b++) out[d + b] = src[s + b];
    }
  }
  return out;
}

/** Pillow's MULDIV255: round(a*b/255) in integer arithmetic. */
export function muldiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/**
 * RGBA/LA resize the way Pillow does it: convert to premultiplied (RGBa/La), resize, convert back.
 * `c` is 4 (RGBA) or 2 (LA); alpha is the last channel.
 */
export function resizeBicubicPremultiplied(src: Uint8Array, w: number, h: number, c: number, outW: number, outH: number, roi?: Roi): Uint8Array {
  const r = roi ?? { x0: 0, y0: 0, x1: outW, y1: outH };
  if (outW === w && outH === h) return cropHWC(src, w, c, r); // Pillow returns a copy before converting
  const pre = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i += c) {
    const a = src[i + c - 1];
    for (let b = 0; b < c - 1; b++) pre[i + b] = muldiv255(src[i + b], a);
    pre[i + c - 1] = a;
  }
  const out = resizeBicubicU8(pre, w, h, c, outW, outH, r);
  for (let i = 0; i < out.length; i += c) {
    const a = out[i + c - 1];
    if (a === 255 || a === 0) continue;
    for (let b = 0; b < c - 1; b++) out[i + b] = Math.min(255, Math.trunc((255 * out[i + b]) / a));
  }
  return out;
}
