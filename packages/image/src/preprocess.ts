import { pixelsToRGB, toRGB } from './convert';
import { resizeBicubicI32, resizeBicubicPremultiplied, resizeBicubicU8, resizeNearest, Roi } from './resample';
import { DecodedImage, ImageError } from './types';

export const OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/**
 * 'hf': transformers CLIPImageProcessor (convert to RGB first, crop offset floor((H-n)/2), padding placed at
 * ceil((n-H)/2)); 'openai': openai/CLIP `_transform` (resize in the source mode, crop offset round-half-even,
 * padding placed at floor((n-H)/2), convert to RGB last).
 */
export type CropStyle = 'hf' | 'openai';

export interface HW {
  height: number;
  width: number;
}

export interface PreprocessOptions {
  /** Shortest edge after resizing (default 224), or an exact {height, width}. */
  size?: number | HW;
  /** Center crop size (default: size when it is a number). */
  cropSize?: number | HW;
  crop?: CropStyle;
  mean?: number[];
  std?: number[];
  resample?: 'bicubic' | 'nearest';
  doResize?: boolean;
  doCenterCrop?: boolean;
  doConvertRgb?: boolean;
  doRescale?: boolean;
  rescaleFactor?: number;
  doNormalize?: boolean;
}

/** An RGB u8 image after resize + crop (HWC). */
export interface RGBCrop {
  width: number;
  height: number;
  data: Uint8Array;
}

/** torchvision / HF shortest-edge rule: the long side is int(size * long / short). Returns [width, height]. */
export function shortestEdgeSize(w: number, h: number, size: number): [number, number] {
  const [short, long] = w <= h ? [w, h] : [h, w];
  const newLong = Math.trunc((size * long) / short);
  return w <= h ? [size, newLong] : [newLong, size];
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Which part of a resized dimension lands where in the crop. */
export function cropWindow(dim: number, crop: number, style: CropStyle): { src0: number; dst0: number; len: number } {
  if (crop <= dim) {
    const off = style === 'openai' ? roundHalfEven((dim - crop) / 2) : Math.floor((dim - crop) / 2);
    return { src0: off, dst0: 0, len: crop };
  }
  const pad = style === 'openai' ? Math.floor((crop - dim) / 2) : Math.ceil((crop - dim) / 2);
  return { src0: 0, dst0: pad, len: dim };
}

/** Pillow `Image.resize(size, BICUBIC | NEAREST)` in the image's own mode, window `roi` only. */
function resizeNative(img: DecodedImage, outW: number, outH: number, roi: Roi, nearest: boolean): Uint8Array | Int32Array {
  const { width: w, height: h, channels: c, mode } = img;
  if (mode === 'I') {
    const src = Int32Array.from(img.data16 ?? img.data);
    return nearest ? resizeNearest(src, w, h, 1, outW, outH, roi) : resizeBicubicI32(src, w, h, outW, outH, roi);
  }
  // Pillow forces NEAREST for P and 1.
  if (nearest || mode === 'P' || mode === '1') return resizeNearest(img.data, w, h, c, outW, outH, roi);
  if (mode === 'RGBA' || mode === 'LA') return resizeBicubicPremultiplied(img.data, w, h, c, outW, outH, roi);
  return resizeBicubicU8(img.data, w, h, c, outW, outH, roi);
}

function cropDims(o: PreprocessOptions, resized: HW): HW {
  if (o.doCenterCrop === false) return resized;
  const cs = o.cropSize ?? o.size ?? 224;
  if (typeof cs === 'number') return { height: cs, width: cs };
  return cs;
}

function targetSize(img: DecodedImage, o: PreprocessOptions): HW {
  if (o.doResize === false) return { width: img.width, height: img.height };
  const s = o.size ?? 224;
  if (typeof s !== 'number') return s;
  const [width, height] = shortestEdgeSize(img.width, img.height, s);
  return { width, height };
}

/** Resize + center crop + RGB conversion in the order of the chosen pipeline; returns the u8 RGB crop (HWC). */
function checkSize(name: string, v: number | HW | undefined): void {
  const ok = (n: number) => Number.isInteger(n) && n > 0;
  if (v !== undefined && !(typeof v === 'number' ? ok(v) : ok(v.height) && ok(v.width))) {
    throw new ImageError(`${name} must be a positive integer or {height, width} of positive integers, got ${JSON.stringify(v)}`);
  }
}

export function resizeAndCrop(img: DecodedImage, o: PreprocessOptions = {}): RGBCrop {
  const style = o.crop ?? 'hf';
  if (style !== 'hf' && style !== 'openai') throw new ImageError(`unknown crop style '${style as string}' (expected 'hf' or 'openai')`);
  checkSize('size', o.size);
  checkSize('cropSize', o.cropSize);
  if (style === 'hf' && img.mode !== 'RGB') {
    if (o.doConvertRgb === false) throw new ImageError(`${img.source ?? 'image'}: mode ${img.mode} needs do_convert_rgb (3-channel output)`);
    img = toRGB(img);
  }
  const t = targetSize(img, o);
  const cd = cropDims(o, t);
  const wx = cropWindow(t.width, cd.width, style);
  const wy = cropWindow(t.height, cd.height, style);
  const roi = { x0: wx.src0, x1: wx.src0 + wx.len, y0: wy.src0, y1: wy.src0 + wy.len };
  let block = resizeNative(img, t.width, t.height, roi, o.resample === 'nearest');
  const c = img.channels;
  if (wx.len !== cd.width || wy.len !== cd.height) {
    // Zero padding in the source mode (for openai: P pads with index 0, CMYK with 0 = white after conversion).
    const padded = new (block.constructor as { new (n: number): Uint8Array | Int32Array })(cd.width * cd.height * c);
    for (let y = 0; y < wy.len; y++) {
      padded.set(block.subarray(y * wx.len * c, (y + 1) * wx.len * c), ((y + wy.dst0) * cd.width + wx.dst0) * c);
    }
    block = padded;
  }
  const data = img.mode === 'RGB' ? (block as Uint8Array) : pixelsToRGB(img.mode, block, cd.width * cd.height, img.palette);
  return { width: cd.width, height: cd.height, data };
}

/** The u8 crop before normalisation, CHW [3, H, W] (what the stored u8 reference tensors hold). */
export function preprocessToU8(img: DecodedImage, o: PreprocessOptions = {}): Uint8Array {
  const { width, height, data } = resizeAndCrop(img, o);
  const n = width * height;
  const out = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = data[3 * i + c];
  return out;
}

const luts = new Map<string, Float32Array[]>();

/**
 * Per-channel u8 -> float32 tables. Each op is rounded to float32 like torch/numpy do it:
 * f = fround(fround(fround(u8 * rescale) - fround(mean)) / fround(std)); for rescale 1/255 this is u8/255,
 * which equals HF's float64 multiply-then-cast for all 256 values.
 */
export function normalizationLut(o: PreprocessOptions = {}): Float32Array[] {
  const mean = o.mean ?? OPENAI_CLIP_MEAN;
  const std = o.std ?? OPENAI_CLIP_STD;
  const rf = o.rescaleFactor ?? 1 / 255;
  const key = JSON.stringify([mean, std, rf, o.doRescale, o.doNormalize]);
  const hit = luts.get(key);
  if (hit) return hit;
  const f = Math.fround;
  const tables = [0, 1, 2].map((c) => {
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      let x = o.doRescale === false ? v : rf === 1 / 255 ? f(v / 255) : f(v * rf);
      if (o.doNormalize !== false) x = f(f(x - f(mean[c])) / f(std[c]));
      t[v] = x;
    }
    return t;
  });
  luts.set(key, tables);
  return tables;
}

/** Writes an RGB HWC crop as normalised CHW float32 into `out` at `offset`. */
export function normalizeInto(crop: RGBCrop, o: PreprocessOptions, out: Float32Array, offset = 0): void {
  const [l0, l1, l2] = normalizationLut(o);
  const n = crop.width * crop.height;
  const d = crop.data;
  for (let i = 0; i < n; i++) {
    out[offset + i] = l0[d[3 * i]];
    out[offset + n + i] = l1[d[3 * i + 1]];
    out[offset + 2 * n + i] = l2[d[3 * i + 2]];
  }
}

/** Full pipeline: resize (shortest edge), center crop, RGB, rescale, normalise -> Float32Array CHW [3, H, W]. */
export function preprocess(img: DecodedImage, o: PreprocessOptions = {}): Float32Array {
  const crop = resizeAndCrop(img, o);
  const out = new Float32Array(3 * crop.width * crop.height);
  normalizeInto(crop, o, out);
  return out;
}
