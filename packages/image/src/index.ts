/** @altclip/image: decoding (sharp) and Pillow-exact CLIP preprocessing in both the HF and the openai convention. */
export * from './types';
export { loadImage, imageFromPixels, setMaxImagePixels, getMaxImagePixels, PILLOW_MAX_IMAGE_PIXELS, DEFAULT_MAX_IMAGE_PIXELS } from './decode';
export type { LoadImageOptions } from './decode';
export { maxImageFileBytes, readImageFile, readImageFileSync } from './read-file';
export { toRGB, pixelsToRGB } from './convert';
export { bicubicCoeffs, resizeBicubicU8, resizeBicubicI32, resizeBicubicPremultiplied, resizeNearest } from './resample';
export type { Coeffs, Roi } from './resample';
export {
  preprocess, preprocessToU8, resizeAndCrop, shortestEdgeSize, cropWindow, normalizationLut, normalizeInto,
  OPENAI_CLIP_MEAN, OPENAI_CLIP_STD,
} from './preprocess';
export type { PreprocessOptions, CropStyle, HW, RGBCrop } from './preprocess';
export { ImageProcessor, ALTCLIP_PREPROCESSOR_CONFIG } from './processor';
export type { PreprocessorConfig } from './processor';
export { preprocessFiles, preprocessBuffers, preprocessFile, PreprocessPool, sharedPool, closeSharedPool } from './pool';
export type { PreprocessFilesOptions, PreprocessFilesResult } from './pool';
