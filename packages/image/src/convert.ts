import { muldiv255 } from './resample';
import { DecodedImage, ImageMode } from './types';

/**
 * Pillow's `convert("RGB")` for each source mode (Convert.c): alpha is dropped without compositing, L/1 are
 * replicated, P is looked up in the palette, CMYK uses R = nk - MULDIV255(C, nk) with nk = 255 - K, and I
 * (32-bit) is clipped to [0, 255]. `data` holds `npix` pixels in `mode`'s layout (Int32Array for mode I).
 */
export function pixelsToRGB(mode: ImageMode, data: Uint8Array | Int32Array, npix: number, palette?: Uint8Array): Uint8Array {
  const out = new Uint8Array(npix * 3);
  switch (mode) {
    case 'RGB':
      out.set(data.subarray(0, npix * 3));
      break;
    case 'RGBA':
      for (let i = 0; i < npix; i++) {
        out[3 * i] = data[4 * i];
        out[3 * i + 1] = data[4 * i + 1];
        out[3 * i + 2] = data[4 * i + 2];
      }
      break;
    case 'L':
    case '1':
    case 'LA': {
      const c = mode === 'LA' ? 2 : 1;
      for (let i = 0; i < npix; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = data[c * i];
      break;
    }
    case 'I':
      for (let i = 0; i < npix; i++) {
        const v = data[i];
        out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = v <= 0 ? 0 : v >= 255 ? 255 : v;
      }
      break;
    case 'P': {
      if (!palette) throw new Error('mode P image without a palette');
      for (let i = 0; i < npix; i++) {
        const p = 3 * data[i];
        out[3 * i] = palette[p];
        out[3 * i + 1] = palette[p + 1];
        out[3 * i + 2] = palette[p + 2];
      }
      break;
    }
    case 'CMYK':
      for (let i = 0; i < npix; i++) {
        const nk = 255 - data[4 * i + 3];
        for (let b = 0; b < 3; b++) {
          const v = nk - muldiv255(data[4 * i + b], nk);
          out[3 * i + b] = v < 0 ? 0 : v;
        }
      }
      break;
    default:
      throw new Error(`cannot convert mode ${mode as string} to RGB`);
  }
  return out;
}

/** The whole image converted to RGB (HWC), like Pillow's `im.convert("RGB")`. */
export function toRGB(img: DecodedImage): DecodedImage {
  if (img.mode === 'RGB') return img;
  const src = img.mode === 'I' && img.data16 ? Int32Array.from(img.data16) : img.data;
  const data = pixelsToRGB(img.mode, src, img.width * img.height, img.palette);
  return { width: img.width, height: img.height, channels: 3, mode: 'RGB', data, source: img.source };
}
