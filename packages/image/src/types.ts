/**
 * A decoded image in its source mode, as Pillow holds it (`PIL.Image.open(f)` without convert):
 * - RGB: 3 channels; RGBA: 4 (straight alpha); L: 1; LA: 2; CMYK: 4 (Adobe JPEGs already inverted, as Pillow does);
 * - P: 1 channel of palette indices plus `palette` (RGB triplets), so NEAREST resizing and padding with index 0
 *   can be reproduced before the conversion to RGB;
 * - '1': 1 channel holding 0/255 (Pillow's bilevel mode; resized with NEAREST like P);
 * - I: 16-bit greyscale PNG values in `data16` (`data` holds them clipped to 8 bits, as Pillow's I->L does).
 * `data` is HWC row-major.
 */
export type ImageMode = 'RGB' | 'RGBA' | 'L' | 'LA' | 'CMYK' | 'P' | '1' | 'I';

export interface DecodedImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
  mode: ImageMode;
  /** P only: RGB triplets, index i at 3*i. */
  palette?: Uint8Array;
  /** I only: the 16-bit values (HW). */
  data16?: Uint16Array;
  /** Where the pixels came from (file path or '<buffer>'), for error messages. */
  source?: string;
}

/** Channels per mode. */
export const MODE_CHANNELS: Record<ImageMode, number> = { RGB: 3, RGBA: 4, L: 1, LA: 2, CMYK: 4, P: 1, '1': 1, I: 1 };

export class ImageError extends Error {
  constructor(message: string, readonly file?: string) {
    super(message);
    this.name = 'ImageError';
  }
}
