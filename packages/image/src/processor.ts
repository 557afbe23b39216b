import * as fs from 'fs';
import * as path from 'path';
import { normalizeInto, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PreprocessOptions, resizeAndCrop, CropStyle, HW } from './preprocess';
import { DecodedImage, ImageError } from './types';

/** The fields of a HF `preprocessor_config.json` that this processor reads (others are kept on save). */
export interface PreprocessorConfig {
  size?: number | { shortest_edge?: number; height?: number; width?: number };
  crop_size?: number | { height: number; width: number };
  do_resize?: boolean;
  do_center_crop?: boolean;
  do_convert_rgb?: boolean;
  do_rescale?: boolean;
  rescale_factor?: number;
  do_normalize?: boolean;
  image_mean?: number[];
  image_std?: number[];
  resample?: number;
  [key: string]: unknown;
}

/** PIL resample ids: 0 NEAREST, 3 BICUBIC are implemented Pillow-exactly. */
const RESAMPLE: Record<number, 'nearest' | 'bicubic'> = { 0: 'nearest', 3: 'bicubic' };
const PIL_NAMES: Record<number, string> = { 1: 'LANCZOS', 2: 'BILINEAR', 4: 'BOX', 5: 'HAMMING' };

/** HF `get_size_dict`: an int size means shortest_edge (CLIP's default_to_square=False); crop ints are squares. */
function sizeOption(size: PreprocessorConfig['size'], file: string): number | HW {
  if (size === undefined) return 224;
  if (typeof size === 'number') return size;
  if (typeof size.shortest_edge === 'number') return size.shortest_edge;
  if (typeof size.height === 'number' && typeof size.width === 'number') return { height: size.height, width: size.width };
  throw new ImageError(`${file}: unsupported "size" ${JSON.stringify(size)} (expected an int, {shortest_edge} or {height, width})`, file);
}

function cropOption(crop: PreprocessorConfig['crop_size'], file: string): number | HW | undefined {
  if (crop === undefined) return undefined;
  if (typeof crop === 'number') return crop;
  if (typeof crop.height === 'number' && typeof crop.width === 'number') return { height: crop.height, width: crop.width };
  throw new ImageError(`${file}: unsupported "crop_size" ${JSON.stringify(crop)} (expected an int or {height, width})`, file);
}

/** CLIPImageProcessor (slow PIL path) driven by a HF preprocessor_config.json. */
export class ImageProcessor {
  readonly options: PreprocessOptions;
  /** Output [3, H, W]. */
  readonly outputShape: [number, number, number];

  constructor(readonly config: PreprocessorConfig, crop: CropStyle = 'hf', source = 'preprocessor_config.json') {
    const resample = config.resample ?? 3;
    if (!(resample in RESAMPLE)) {
      throw new ImageError(`${source}: resample ${resample} (${PIL_NAMES[resample] ?? 'unknown'}) is not implemented; use 3 (BICUBIC) or 0 (NEAREST)`, source);
    }
    const mean = config.image_mean ?? OPENAI_CLIP_MEAN;
    const std = config.image_std ?? OPENAI_CLIP_STD;
    for (const [k, v] of [['image_mean', mean], ['image_std', std]] as const) {
      if (!Array.isArray(v) || v.length !== 3) throw new ImageError(`${source}: "${k}" must have 3 values, got ${JSON.stringify(v)}`, source);
    }
    this.options = {
      size: sizeOption(config.size, source),
      // CLIPImageProcessor's defaults when the keys are missing: shortest_edge 224, crop 224x224.
      cropSize: cropOption(config.crop_size, source) ?? 224,
      crop,
      mean,
      std,
      resample: RESAMPLE[resample],
      doResize: config.do_resize ?? true,
      doCenterCrop: config.do_center_crop ?? true,
      doConvertRgb: config.do_convert_rgb ?? true,
      doRescale: config.do_rescale ?? true,
      rescaleFactor: config.rescale_factor ?? 1 / 255,
      doNormalize: config.do_normalize ?? true,
    };
    const c = this.options.doCenterCrop ? this.options.cropSize ?? this.options.size : undefined;
    const hw = typeof c === 'number' ? { height: c, width: c } : c;
    this.outputShape = hw ? [3, hw.height, hw.width] : [3, -1, -1];
  }

  static fromConfig(json: PreprocessorConfig | string, opts: { crop?: CropStyle } = {}): ImageProcessor {
    const cfg = typeof json === 'string' ? (JSON.parse(json) as PreprocessorConfig) : json;
    return new ImageProcessor(cfg, opts.crop);
  }

  /** Reads `<dir>/preprocessor_config.json` (or a path to the JSON file itself). */
  static fromPretrained(dir: string, opts: { crop?: CropStyle } = {}): ImageProcessor {
    const file = dir.endsWith('.json') ? dir : path.join(dir, 'preprocessor_config.json');
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ImageError(`cannot read ${file}: ${(e as Error).message}`, file);
    }
    let cfg: PreprocessorConfig;
    try {
      cfg = JSON.parse(text);
    } catch (e) {
      throw new ImageError(`${file}: invalid JSON (${(e as Error).message})`, file);
    }
    return new ImageProcessor(cfg, opts.crop, file);
  }

  /** One image -> Float32Array CHW. */
  process(img: DecodedImage): Float32Array {
    const crop = resizeAndCrop(img, this.options);
    const out = new Float32Array(3 * crop.width * crop.height);
    normalizeInto(crop, this.options, out);
    return out;
  }

  /** Images -> NCHW batch. Every crop must have the same size (do_center_crop, or equal inputs). */
  processBatch(imgs: DecodedImage[]): { data: Float32Array; shape: [number, number, number, number] } {
    if (imgs.length === 0) {
      const [c, h, w] = this.outputShape;
      return { data: new Float32Array(0), shape: [0, c, Math.max(h, 0), Math.max(w, 0)] };
    }
    const crops = imgs.map((im) => resizeAndCrop(im, this.options));
    const { width, height } = crops[0];
    const per = 3 * width * height;
    const data = new Float32Array(per * imgs.length);
    crops.forEach((c, i) => {
      if (c.width !== width || c.height !== height) {
        throw new ImageError(`processBatch: image ${i} (${imgs[i].source ?? 'pixels'}) gives ${c.height}x${c.width}, image 0 gives ${height}x${width}`);
      }
      normalizeInto(c, this.options, data, i * per);
    });
    return { data, shape: [imgs.length, 3, height, width] };
  }

  /** Writes preprocessor_config.json (the config as read, unknown keys included) atomically. */
  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'preprocessor_config.json');
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(this.config, null, 2) + '\n');
    fs.renameSync(tmp, file);
  }
}

/** BAAI/AltCLIP's preprocessor_config.json (spec §7). */
export const ALTCLIP_PREPROCESSOR_CONFIG: PreprocessorConfig = {
  crop_size: 224, do_center_crop: true, do_convert_rgb: true, do_normalize: true, do_resize: true,
  feature_extractor_type: 'CLIPFeatureExtractor', image_mean: OPENAI_CLIP_MEAN, image_std: OPENAI_CLIP_STD,
  processor_class: 'AltCLIPProcessor', resample: 3, size: 224,
};
