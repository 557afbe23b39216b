/**
 * BMP and PNM (PBM/PGM/PPM) decoding, which sharp's libvips build lacks, in Pillow 9.4's modes
 * (BmpImagePlugin / PpmImagePlugin): BMP 24/32-bit -> RGB (32-bit alpha ignored unless a bitfield mask declares it),
 * 1/4/8-bit palettes -> P, or L / 1 when the palette is the identity grey ramp / black-white;
 * PNM P1/P4 -> 1, P2/P5 -> L, P3/P6 -> RGB (maxval 255).
 */
import { DecodedImage, ImageError, ImageMode, MODE_CHANNELS } from './types';

export function isBmp(b: Uint8Array): boolean {
  return b.length >= 26 && b[0] === 0x42 && b[1] === 0x4d;
}

export function isPnm(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0x50 && b[1] >= 0x31 && b[1] <= 0x36 && /\s/.test(String.fromCharCode(b[2]));
}

/** `checkSize` runs on the header's size, before the pixels are allocated (the decompression-bomb guard). */
export function decodeBmp(b: Uint8Array, src: string, checkSize?: (width: number, height: number) => void): DecodedImage {
  const fail = (m: string) => new ImageError(`cannot decode image ${src}: BMP ${m}`, src);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataOffset = dv.getUint32(10, true);
  const hsize = dv.getUint32(14, true);
  const core = hsize === 12;
  const width = core ? dv.getUint16(18, true) : dv.getInt32(18, true);
  const rawH = core ? dv.getInt16(20, true) : dv.getInt32(22, true);
  const bits = core ? dv.getUint16(24, true) : dv.getUint16(28, true);
  const compression = core ? 0 : dv.getUint32(30, true);
  const height = Math.abs(rawH);
  const topDown = rawH < 0;
  if (width <= 0 || height <= 0) throw fail(`has zero size (${width}x${rawH})`);
  checkSize?.(width, height);
  let masks: number[] | undefined;
  if (compression === 3 || compression === 6) {
    const n = compression === 6 || hsize >= 56 ? 4 : 3;
    const at = hsize >= 52 ? 54 : 14 + hsize;
    masks = Array.from({ length: n }, (_, i) => dv.getUint32(at + 4 * i, true));
  } else if (compression !== 0) throw fail(`compression ${compression} (RLE) is not supported`);
  const stride = ((bits * width + 31) >>> 5) * 4;
  if (dataOffset + stride * height > b.length) throw fail('pixel data is truncated');
  const row = (y: number) => dataOffset + (topDown ? y : height - 1 - y) * stride;
  const n = width * height;
  if (bits === 24 || (bits === 32 && !masks)) {
    const step = bits / 8;
    const out = new Uint8Array(n * 3);
    for (let y = 0, o = 0; y < height; y++) {
      for (let x = 0, p = row(y); x < width; x++, p += step) {
        out[o++] = b[p + 2];
        out[o++] = b[p + 1];
        out[o++] = b[p];
      }
    }
    return { width, height, channels: 3, mode: 'RGB', data: out, source: src };
  }
  if (bits === 32 && masks) {
    const alpha = masks.length === 4 && masks[3] !== 0;
    const c = alpha ? 4 : 3;
    const shift = masks.map((m) => (m === 0 ? 0 : 31 - Math.clz32(m & -m)));
    if (masks.slice(0, c).some((m) => m !== 0 && m >>> shift[masks!.indexOf(m)] !== 255)) throw fail('bitfield masks other than 8 bits per channel');
    const out = new Uint8Array(n * c);
    for (let y = 0, o = 0; y < height; y++) {
      for (let x = 0, p = row(y); x < width; x++, p += 4) {
        const v = dv.getUint32(p, true);
        for (let k = 0; k < c; k++) out[o++] = (v & masks[k]) >>> shift[k];
      }
    }
    return { width, height, channels: c, mode: alpha ? 'RGBA' : 'RGB', data: out, source: src };
  }
  if (bits !== 1 && bits !== 4 && bits !== 8) throw fail(`${bits}-bit pixels are not supported`);
  const colors = (core ? 0 : dv.getUint32(46, true)) || 1 << bits;
  const entry = core ? 3 : 4;
  const palAt = 14 + hsize;
  const palette = new Uint8Array(768);
  for (let i = 0; i < colors && i < 256; i++) {
    const p = palAt + i * entry;
    palette[3 * i] = b[p + 2];
    palette[3 * i + 1] = b[p + 1];
    palette[3 * i + 2] = b[p];
  }
  const idx = new Uint8Array(n);
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  for (let y = 0, o = 0; y < height; y++) {
    const r = row(y);
    for (let x = 0; x < width; x++) idx[o++] = (b[r + Math.floor(x / perByte)] >> (8 - bits * ((x % perByte) + 1))) & mask;
  }
  // Pillow drops a palette that is the grey ramp (or black/white for 2 colours) and keeps the raw values.
  const grey = Array.from({ length: colors }, (_, i) => (colors === 2 ? i * 255 : i)).every(
    (v, i) => palette[3 * i] === v && palette[3 * i + 1] === v && palette[3 * i + 2] === v,
  );
  if (grey && colors === 2) return { width, height, channels: 1, mode: '1', data: idx.map((v) => v * 255), source: src };
  if (grey && bits === 8) return { width, height, channels: 1, mode: 'L', data: idx, source: src };
  return { width, height, channels: 1, mode: 'P', data: idx, palette, source: src };
}

export function decodePnm(b: Uint8Array, src: string, checkSize?: (width: number, height: number) => void): DecodedImage {
  const fail = (m: string) => new ImageError(`cannot decode image ${src}: PNM ${m}`, src);
  const kind = b[1] - 0x30;
  let p = 2;
  const token = (): number => {
    for (;;) {
      while (p < b.length && /\s/.test(String.fromCharCode(b[p]))) p++;
      if (b[p] === 0x23) while (p < b.length && b[p] !== 0x0a && b[p] !== 0x0d) p++;
      else break;
    }
    const s = p;
    while (p < b.length && b[p] >= 0x30 && b[p] <= 0x39) p++;
    if (s === p) throw fail(`header is malformed at byte ${s}`);
    return Number(String.fromCharCode(...b.subarray(s, p)));
  };
  const width = token();
  const height = token();
  const maxval = kind === 1 || kind === 4 ? 1 : token();
  if (maxval !== 255 && maxval !== 1) throw fail(`maxval ${maxval} is not supported (only 255)`);
  if (width <= 0 || height <= 0) throw fail(`has zero size (${width}x${height})`);
  checkSize?.(width, height);
  const mode: ImageMode = kind === 1 || kind === 4 ? '1' : kind === 2 || kind === 5 ? 'L' : 'RGB';
  const c = MODE_CHANNELS[mode];
  const out = new Uint8Array(width * height * c);
  if (kind >= 4) {
    p++; // the single whitespace after the header
    if (kind === 4) {
      const stride = (width + 7) >> 3;
      if (p + stride * height > b.length) throw fail('pixel data is truncated');
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = (b[p + y * stride + (x >> 3)] >> (7 - (x & 7))) & 1 ? 0 : 255;
    } else {
      if (p + out.length > b.length) throw fail('pixel data is truncated');
      out.set(b.subarray(p, p + out.length));
    }
  } else {
    for (let i = 0; i < out.length; i++) {
      if (kind === 1) {
        while (p < b.length && b[p] !== 0x30 && b[p] !== 0x31) p++;
        if (p >= b.length) throw fail('pixel data is truncated');
        out[i] = b[p++] === 0x31 ? 0 : 255;
      } else out[i] = token();
    }
  }
  return { width, height, channels: c, mode, data: out, source: src };
}
