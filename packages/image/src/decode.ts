import sharp from 'sharp';
import type { OutputInfo, Sharp, SharpOptions } from 'sharp';
import { decodeBmp, decodePnm, isBmp, isPnm } from './bmp-pnm';
import { isGif, isPng, jpegFrame, parseGif, parsePng, tiffPalette } from './containers';
import { DecodedImage, ImageError, ImageMode, MODE_CHANNELS } from './types';
import { readImageFile } from './read-file';

export interface LoadImageOptions {
  /** Rotate/flip by the EXIF Orientation tag. Off by default: the Python references use the stored pixels. */
  applyExif?: boolean;
  /** Name used in error messages when decoding a buffer. */
  name?: string;
  /** Refuse images with more pixels than this, before decoding them (default: getMaxImagePixels(); 0: no limit). */
  maxPixels?: number;
}

/**
 * Pillow's decompression-bomb guard: Image.MAX_IMAGE_PIXELS = 89,478,485 warns, twice that is an error. A 746 KB
 * PNG can declare 16000x16000 pixels (768 MB decoded), so the limit is checked from the header, before decoding.
 */
export const PILLOW_MAX_IMAGE_PIXELS = 89_478_485;
export const DEFAULT_MAX_IMAGE_PIXELS = 2 * PILLOW_MAX_IMAGE_PIXELS;

let maxImagePixels = DEFAULT_MAX_IMAGE_PIXELS;

/** Sets the process-wide pixel limit (the CLI's --max-pixels; 0 turns it off); worker pools pass it on. */
export function setMaxImagePixels(n: number): void {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`max image pixels must be an integer >= 0, got ${n}`);
  maxImagePixels = n;
}

export function getMaxImagePixels(): number {
  return maxImagePixels;
}

const warnedLarge = new Set<string>();

/** Throws above `limit` pixels; warns once per file above half of it (Pillow's two levels). */
function checkPixels(width: number, height: number, src: string, limit: number): void {
  if (!limit) return;
  const n = width * height;
  if (n > limit)
    throw new ImageError(
      `cannot decode image ${src}: ${width}x${height} = ${n.toLocaleString('en-US')} pixels exceeds the limit of ${limit.toLocaleString('en-US')} ` +
        '(possible decompression bomb; raise it with --max-pixels, 0 for no limit)',
      src,
    );
  if (n > limit / 2 && !warnedLarge.has(src)) {
    warnedLarge.add(src);
    process.emitWarning(`${src}: ${width}x${height} = ${n.toLocaleString('en-US')} pixels is more than ${Math.floor(limit / 2).toLocaleString('en-US')}, half the --max-pixels limit`, 'DecompressionBombWarning');
  }
}

type Raw = { data: Buffer; info: OutputInfo };

function open(buf: Buffer, o: LoadImageOptions): Sharp {
  // failOn 'truncated': reject cut-off files like Pillow does, but accept the warnings libjpeg-turbo ignores.
  // ignoreIcc: Pillow never colour-manages on open. Pixel limits are checked by checkPixels before.
  const s = sharp(buf, { failOn: 'truncated', ignoreIcc: true, pages: 1, page: 0, limitInputPixels: false } as SharpOptions);
  return o.applyExif ? s.autoOrient() : s;
}

/** The channels `keep` of interleaved pixels with `c` channels (the same memory when nothing is dropped). */
function pick(data: Uint8Array, c: number, keep: number[]): Uint8Array {
  if (keep.length === c && keep.every((k, i) => k === i)) return new Uint8Array(data.buffer, data.byteOffset, data.length);
  const n = data.length / c;
  const out = new Uint8Array(n * keep.length);
  for (let i = 0, o = 0; i < n; i++) for (const k of keep) out[o++] = data[i * c + k];
  return out;
}

/** Decodes with sharp and returns pixels in Pillow's mode for that file (see `DecodedImage`). */
async function decodeBuffer(buf: Buffer, src: string, o: LoadImageOptions): Promise<DecodedImage> {
  const limit = o.maxPixels ?? maxImagePixels;
  if (isBmp(buf)) return decodeBmp(buf, src, (w, h) => checkPixels(w, h, src, limit));
  if (isPnm(buf)) return decodePnm(buf, src, (w, h) => checkPixels(w, h, src, limit));
  // Plain JPEGs (the common case) skip sharp's metadata pass: the frame header says grey or colour, and the size.
  const jf = jpegFrame(buf);
  const jc = jf.components;
  if (jc === 1 || jc === 3) {
    checkPixels(jf.width, jf.height, src, limit);
    const r = await open(buf, o).raw().toBuffer({ resolveWithObject: true });
    const keep = jc === 1 ? [0] : [0, 1, 2];
    const mode: ImageMode = jc === 1 ? 'L' : 'RGB';
    return { width: r.info.width, height: r.info.height, channels: keep.length, mode, data: pick(r.data, r.info.channels, keep), source: src };
  }
  // Header only: sharp reads no pixel data for metadata.
  const meta = await open(buf, {}).metadata();
  if (meta.width && meta.height) checkPixels(meta.width, meta.height, src, limit);
  const png = parsePng(buf);
  const raw = (s: Sharp, depth?: 'ushort'): Promise<Raw> =>
    s.raw(depth ? { depth } : undefined).toBuffer({ resolveWithObject: true });
  const make = (mode: ImageMode, r: Raw, extra: Partial<DecodedImage> = {}): DecodedImage => ({
    width: r.info.width, height: r.info.height, channels: MODE_CHANNELS[mode], mode, source: src,
    data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.length), ...extra,
  });
  const take = (r: Raw, keep: number[]): Raw => {
    const out = pick(r.data, r.info.channels, keep);
    return { data: Buffer.from(out.buffer, out.byteOffset, out.length), info: { ...r.info, channels: keep.length as 1 | 2 | 3 | 4 } };
  };

  if (meta.space === 'cmyk' || (meta.channels === 4 && meta.format === 'jpeg')) {
    // Raw CMYK without colour management. Like Pillow ("CMYK;I"), libvips inverts CMYK JPEGs, with or without
    // the Adobe segment (tested).
    return make('CMYK', await raw(open(buf, o).pipelineColourspace('cmyk').toColourspace('cmyk')));
  }
  if (png && png.colorType === 3) {
    const rgba = make('P', await raw(open(buf, o).ensureAlpha()));
    return paletteImage(rgba, png.palette, png.paletteAlpha) ?? asRGB(rgba);
  }
  const tpal = meta.format === 'tiff' ? tiffPalette(buf) : undefined;
  if (tpal) {
    const rgba = make('P', await raw(open(buf, o).ensureAlpha()));
    return paletteImage(rgba, tpal, undefined) ?? asRGB(rgba);
  }
  if (isGif(buf)) {
    const g = parseGif(buf);
    const r = await raw(open(buf, o).ensureAlpha());
    const pal = g?.palette;
    // Pillow opens a GIF whose palette is the identity grey ramp as mode L.
    if (pal && pal.every((v, i) => v === Math.floor(i / 3))) return make('L', take(r, [0]));
    if (!pal) return make('RGB', take(r, [0, 1, 2]));
    const alpha = new Uint8Array(pal.length / 3).fill(255);
    if (g.transparentIndex !== undefined && g.transparentIndex < alpha.length) alpha[g.transparentIndex] = 0;
    const rgba = make('P', r);
    return paletteImage(rgba, pal, alpha, true) ?? asRGB(rgba);
  }
  if (png && png.bitDepth === 16) {
    const grey = png.colorType === 0 || png.colorType === 4;
    const r16 = await raw(grey ? open(buf, o).toColourspace('grey16') : open(buf, o).toColourspace('rgb16'), 'ushort');
    const c = r16.info.channels;
    // Copy to a fresh, aligned ArrayBuffer (sharp's Buffer may start at an odd offset).
    const v16 = new Uint16Array(new Uint8Array(r16.data).buffer);
    const n = r16.info.width * r16.info.height;
    if (png.colorType === 0) {
      // Pillow mode I: resized in 32 bits, then clipped (not scaled) to 8 bits by convert().
      const d16 = new Uint16Array(n);
      const d8 = new Uint8Array(n);
      for (let i = 0; i < n; i++) d8[i] = Math.min(255, (d16[i] = v16[i * c]));
      return { width: r16.info.width, height: r16.info.height, channels: 1, mode: 'I', data: d8, data16: d16, source: src };
    }
    // Pillow unpacks RGB;16B / RGBA;16B / LA;16B by keeping the high byte; LA;16B becomes RGBA.
    const outC = png.colorType === 2 ? 3 : 4;
    const d8 = new Uint8Array(n * outC);
    for (let i = 0; i < n; i++) {
      for (let b = 0; b < 3; b++) d8[i * outC + b] = v16[i * c + (grey ? 0 : b)] >> 8;
      if (outC === 4) d8[i * outC + 3] = v16[i * c + c - 1] >> 8;
    }
    return { width: r16.info.width, height: r16.info.height, channels: outC, mode: outC === 3 ? 'RGB' : 'RGBA', data: d8, source: src };
  }
  const isGrey = meta.space === 'b-w' || meta.space === 'grey16' || (png !== undefined && (png.colorType === 0 || png.colorType === 4));
  if (isGrey) {
    // sharp hands grey out as replicated sRGB (+ alpha); keep the grey and alpha channels.
    const r = await raw(open(buf, o));
    // PNG grey with tRNS stays L in Pillow; libpng turns it into an alpha channel, which is dropped here.
    const hasAlpha = png ? png.colorType === 4 : meta.hasAlpha;
    if (hasAlpha && r.info.channels >= 2) return make('LA', take(r, [0, r.info.channels - 1]));
    const mode: ImageMode = png && png.bitDepth === 1 ? '1' : 'L';
    return make(mode, take(r, [0]));
  }
  const r = await raw(open(buf, o));
  const hasAlpha = png ? png.colorType === 6 : meta.hasAlpha;
  if (hasAlpha && r.info.channels === 4) return make('RGBA', r);
  return make('RGB', take(r, [0, 1, 2]));
}

/**
 * Maps sharp's expanded RGBA pixels back to palette indices. Colours that occur twice in the palette map to the
 * first index, which gives identical results everywhere (NEAREST resize, conversion, padding with index 0).
 * Returns undefined if a pixel is not in the palette (a malformed file); the caller then keeps it as RGB.
 */
function paletteImage(img: DecodedImage, pal: Uint8Array | undefined, alpha: Uint8Array | undefined, ignoreHiddenRgb = false): DecodedImage | undefined {
  if (!pal) return undefined;
  const n = pal.length / 3;
  const lut = new Map<number, number>();
  const keyOf = (r: number, g: number, b: number, a: number) => (a === 0 && ignoreHiddenRgb ? -1 : ((r << 16) | (g << 8) | b) * 256 + a);
  for (let i = n - 1; i >= 0; i--) lut.set(keyOf(pal[3 * i], pal[3 * i + 1], pal[3 * i + 2], alpha && i < alpha.length ? alpha[i] : 255), i);
  const px = img.width * img.height;
  const idx = new Uint8Array(px);
  const d = img.data;
  for (let i = 0; i < px; i++) {
    const v = lut.get(keyOf(d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]));
    if (v === undefined) return undefined;
    idx[i] = v;
  }
  const palette = new Uint8Array(768);
  palette.set(pal.subarray(0, Math.min(pal.length, 768)));
  return { ...img, channels: 1, data: idx, palette };
}

/** RGBA pixels (4 channels) as an RGB image, alpha dropped. */
function asRGB(img: DecodedImage): DecodedImage {
  const n = img.width * img.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let b = 0; b < 3; b++) data[3 * i + b] = img.data[4 * i + b];
  return { width: img.width, height: img.height, channels: 3, mode: 'RGB', data, source: img.source };
}

/**
 * One line saying why decoding failed. libvips keeps its error text per thread and sometimes has none (decoding on
 * worker threads), which sharp reports as "Unknown error"; the file's framing then tells what is wrong.
 */
export function decodeFailureReason(message: string, buf: Uint8Array): string {
  const lines = [...new Set(message.split('\n').map((l) => l.trim()).filter(Boolean))];
  const known = lines.filter((l) => l !== 'Unknown error');
  if (known.length) return known.join('; ');
  const n = buf.length;
  if (n >= 2 && buf[0] === 0xff && buf[1] === 0xd8 && !(buf[n - 2] === 0xff && buf[n - 1] === 0xd9))
    return `truncated JPEG (${n} bytes, no end-of-image marker)`;
  if (isPng(buf) && !Buffer.from(buf.buffer, buf.byteOffset, n).includes('IEND', Math.max(0, n - 64))) return `truncated PNG (${n} bytes, no IEND chunk)`;
  return 'corrupt image data (the decoder gave no reason)';
}

/**
 * Decodes an image file (JPEG, PNG, WebP, GIF first frame, TIFF, ...) in Pillow's mode for it, pixels as Pillow
 * gives them (libjpeg-turbo JPEG decoding is bit-identical). EXIF orientation is not applied unless asked.
 * Throws ImageError naming the file for missing, empty, truncated or non-image files.
 */
export async function loadImage(pathOrBuffer: string | Uint8Array, opts: LoadImageOptions = {}): Promise<DecodedImage> {
  const src = typeof pathOrBuffer === 'string' ? pathOrBuffer : opts.name ?? '<buffer>';
  let buf: Buffer;
  if (typeof pathOrBuffer === 'string') {
    buf = await readImageFile(pathOrBuffer, opts.maxPixels ?? maxImagePixels);
  } else buf = Buffer.from(pathOrBuffer.buffer, pathOrBuffer.byteOffset, pathOrBuffer.byteLength);
  if (buf.length === 0) throw new ImageError(`cannot decode image ${src}: the file is empty (0 bytes)`, src);
  try {
    const img = await decodeBuffer(buf, src, opts);
    if (img.width <= 0 || img.height <= 0) throw new Error(`zero-size image (${img.width}x${img.height})`);
    return img;
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(`cannot decode image ${src}: ${decodeFailureReason((e as Error).message, buf)}`, src);
  }
}

/**
 * Wraps raw pixels (HWC) as an image: 1 channel = L (Fashion-MNIST), 3 = RGB (CIFAR-10 after planes -> HWC),
 * 4 = RGBA, 2 = LA.
 */
export function imageFromPixels(data: Uint8Array, width: number, height: number, channels: number): DecodedImage {
  const modes: Record<number, ImageMode> = { 1: 'L', 2: 'LA', 3: 'RGB', 4: 'RGBA' };
  const mode = modes[channels];
  if (!mode) throw new ImageError(`imageFromPixels: unsupported channel count ${channels} (expected 1, 2, 3 or 4)`);
  if (!(width > 0 && height > 0) || data.length !== width * height * channels) {
    throw new ImageError(`imageFromPixels: data has ${data.length} bytes, expected ${width}x${height}x${channels} = ${width * height * channels}`);
  }
  return { width, height, channels, data, mode };
}
