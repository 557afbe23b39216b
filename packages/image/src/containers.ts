/**
 * Just enough PNG/GIF container parsing to know what Pillow would open: PNG bit depth and colour type
 * (Pillow's mode table), PNG PLTE/tRNS and the GIF colour table of the first frame. Pixel data is left to sharp.
 */

export interface PngInfo {
  bitDepth: number;
  colorType: number;
  /** RGB triplets (PLTE). */
  palette?: Uint8Array;
  /** Alpha per palette entry (tRNS for colour type 3); missing entries are 255. */
  paletteAlpha?: Uint8Array;
}

const PNG_SIG = [137, 80, 78, 71, 13, 10, 26, 10];

export function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && PNG_SIG.every((v, i) => b[i] === v);
}

export function isGif(b: Uint8Array): boolean {
  return b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46;
}

export function parsePng(b: Uint8Array): PngInfo | undefined {
  if (!isPng(b)) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const info: PngInfo = { bitDepth: 0, colorType: -1 };
  let p = 8;
  while (p + 8 <= b.length) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(b[p + 4], b[p + 5], b[p + 6], b[p + 7]);
    const d = p + 8;
    if (d + len > b.length) break;
    if (type === 'IHDR') {
      info.bitDepth = b[d + 8];
      info.colorType = b[d + 9];
    } else if (type === 'PLTE') {
      info.palette = b.slice(d, d + len - (len % 3));
    } else if (type === 'tRNS' && info.colorType === 3) {
      info.paletteAlpha = b.slice(d, d + len);
    } else if (type === 'IDAT' || type === 'IEND') {
      break;
    }
    p = d + len + 4;
  }
  return info.colorType >= 0 ? info : undefined;
}

export interface GifInfo {
  /** RGB triplets of the colour table the first frame uses (local if present, else global). */
  palette?: Uint8Array;
  /** Transparent index of the first frame, if any. */
  transparentIndex?: number;
}

/** Walks the GIF blocks up to the first image descriptor. */
export function parseGif(b: Uint8Array): GifInfo | undefined {
  if (!isGif(b) || b.length < 13) return undefined;
  const info: GifInfo = {};
  let p = 13;
  if (b[10] & 0x80) {
    const n = 3 << ((b[10] & 7) + 1);
    info.palette = b.slice(p, p + n);
    p += n;
  }
  while (p < b.length) {
    const tag = b[p];
    if (tag === 0x21) {
      const label = b[p + 1];
      if (label === 0xf9 && b[p + 2] >= 4 && b[p + 3] & 1) info.transparentIndex = b[p + 6];
      p += 2;
      while (p < b.length && b[p] !== 0) p += b[p] + 1; // sub-blocks
      p++;
    } else if (tag === 0x2c) {
      const flags = b[p + 9];
      if (flags & 0x80) info.palette = b.slice(p + 10, p + 10 + (3 << ((flags & 7) + 1)));
      break;
    } else break;
  }
  return info;
}

/** Walks JPEG marker segments up to the first scan, calling `visit(marker, segmentStart, length)`. */
function jpegSegments(b: Uint8Array, visit: (m: number, p: number, len: number) => boolean | void): void {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return;
  let p = 2;
  while (p + 4 <= b.length && b[p] === 0xff) {
    const m = b[p + 1];
    if (m === 0xff) {
      p++; // fill byte
      continue;
    }
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd8)) {
      p += 2; // markers without a length
      continue;
    }
    const len = (b[p + 2] << 8) | b[p + 3];
    if (visit(m, p, len) === true || m === 0xda) return;
    p += 2 + len;
  }
}

/** A JPEG's SOF frame header: colour components (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK) and size; zeros when absent. */
export function jpegFrame(b: Uint8Array): { components: number; width: number; height: number } {
  const f = { components: 0, width: 0, height: 0 };
  jpegSegments(b, (m, p) => {
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (p + 9 < b.length) {
        f.components = b[p + 9];
        f.height = (b[p + 5] << 8) | b[p + 6];
        f.width = (b[p + 7] << 8) | b[p + 8];
      }
      return true;
    }
  });
  return f;
}

/** Number of colour components of a JPEG (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK) from its SOF marker, or 0. */
export function jpegComponents(b: Uint8Array): number {
  return jpegFrame(b).components;
}

/** The 8-bit palette of a palette TIFF (PhotometricInterpretation 3), as Pillow builds it (high bytes of ColorMap). */
export function tiffPalette(b: Uint8Array): Uint8Array | undefined {
  if (b.length < 8) return undefined;
  const le = b[0] === 0x49 && b[1] === 0x49;
  if (!le && !(b[0] === 0x4d && b[1] === 0x4d)) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint16(2, le) !== 42) return undefined;
  const ifd = dv.getUint32(4, le);
  if (ifd + 2 > b.length) return undefined;
  const n = dv.getUint16(ifd, le);
  let photometric = -1;
  let map: { count: number; at: number } | undefined;
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > b.length) return undefined;
    const tag = dv.getUint16(e, le);
    if (tag === 262) photometric = dv.getUint16(e + 8, le);
    if (tag === 320 && dv.getUint16(e + 2, le) === 3) map = { count: dv.getUint32(e + 4, le), at: dv.getUint32(e + 8, le) };
  }
  if (photometric !== 3 || !map || map.at + 2 * map.count > b.length || map.count % 3) return undefined;
  const k = map.count / 3;
  const pal = new Uint8Array(3 * k);
  for (let i = 0; i < k; i++) for (let c = 0; c < 3; c++) pal[3 * i + c] = dv.getUint16(map.at + 2 * (c * k + i), le) >> 8;
  return pal;
}
