import * as fs from 'fs';
import * as path from 'path';
import { loadClipLikeModel, ClipLikeModel, resolveModelDir, SnapshotOptions } from '@altclip/models';
import { loadTokenizer, TextTokenizer } from '@altclip/tokenizers';
import { ImageProcessor } from '@altclip/image';
import { imageSizeOf } from './model-types';

/** A model folder opened for inference: the model, its tokenizer and its image processor. */
export interface ModelBundle {
  dir: string;
  model: ClipLikeModel;
  tokenizer: TextTokenizer;
  processor: ImageProcessor;
  /** 'preprocessor_config.json' or why CLIP defaults were used. */
  processorSource: string;
  dispose(): void;
}

/**
 * The image processor of a model folder: its preprocessor_config.json, else CLIP's defaults (bicubic resize of
 * the shortest edge + center crop, OpenAI mean/std) at the model's vision image_size.
 */
export function processorFor(dir: string, imageSize: number): { processor: ImageProcessor; source: string } {
  const file = path.join(dir, 'preprocessor_config.json');
  if (fs.existsSync(file)) return { processor: ImageProcessor.fromPretrained(dir), source: file };
  return {
    processor: ImageProcessor.fromConfig({ size: imageSize, crop_size: imageSize }),
    source: `CLIP defaults at ${imageSize}px (no preprocessor_config.json in ${dir})`,
  };
}

/**
 * Opens a model folder (config.json model_type altclip|clip) with its tokenizer and image processor. `spec` may be
 * a hub id ('BAAI/AltCLIP', 'org/name@revision'): the files a model folder needs are fetched into the HF cache.
 */
export async function loadModelBundle(spec: string, opts: { onProgress?: (msg: string) => void; hub?: SnapshotOptions } = {}): Promise<ModelBundle> {
  const dir = await resolveModelDir(spec, { parts: ['config', 'weights', 'tokenizer', 'processor'], ...opts.hub });
  if (!fs.existsSync(path.join(dir, 'config.json'))) throw new Error(`${dir}: not a model folder (no config.json)`);
  const model = await loadClipLikeModel(dir);
  let tokenizer: TextTokenizer;
  try {
    tokenizer = await loadTokenizer(dir);
  } catch (e) {
    model.dispose();
    throw new Error(`${dir}: cannot load the tokenizer (${(e as Error).message})`);
  }
  const { processor, source } = processorFor(dir, imageSizeOf(model));
  return { dir, model, tokenizer, processor, processorSource: source, dispose: () => model.dispose() };
}

/** Moved to @altclip/data; re-exported for callers that import it from here. */
export { fileBatchLoader } from '@altclip/data';
