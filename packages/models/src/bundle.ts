/**
 * The one way a command, the trainer or an evaluation opens a model: a folder, a hub id or (for training from
 * scratch) a named config becomes a bundle of model, tokenizer, image processor and config, as transformers.js'
 * auto-loaders return them together.
 */
import * as fs from 'fs';
import * as path from 'path';
import { isHubId } from '@altclip/checkpoint';
import type { SnapshotOptions } from '@altclip/checkpoint';
import { CLIPTokenizer, loadTokenizer, TextTokenizer } from '@altclip/tokenizers';
import { ImageProcessor } from '@altclip/image';
import { AltCLIPModel } from './altclip';
import { CLIPModel } from './clip';
import type { AltCLIPConfig, CLIPConfig } from './config';
import { loadClipLikeModel } from './load';
import { getModelConfig } from './registry';
import { resolveModelDir } from './weights';

export type AnyClipModel = AltCLIPModel | CLIPModel;

/** A model opened with everything needed to feed it. */
export interface ModelBundle {
  /** The model folder (the HF cache snapshot for a hub id); undefined for a named config or a model given as an object. */
  dir?: string;
  model: AnyClipModel;
  config: AltCLIPConfig | CLIPConfig;
  tokenizer: TextTokenizer;
  processor: ImageProcessor;
  /** 'preprocessor_config.json' or why CLIP defaults were used. */
  processorSource: string;
  /** Frees the model's weights (unless the model was given as an object: its owner frees it). */
  dispose(): void;
}

export interface OpenBundleOptions {
  /** A tokenizer folder or hub id (or an instance) instead of the model folder's. */
  tokenizer?: string | TextTokenizer;
  /**
   * Training only: a named config (configs/models) gives a randomly initialised model with this seed. Without it a
   * name that is neither a folder nor a hub id is an error.
   */
  seed?: number;
  hub?: SnapshotOptions;
}

/** The vision tower's input side length. */
export function imageSizeOf(config: AltCLIPConfig | CLIPConfig): number {
  return config.vision_config?.image_size ?? 224;
}

/**
 * The image processor of a model folder: its preprocessor_config.json, else CLIP's defaults (bicubic resize of the
 * shortest edge + center crop, OpenAI mean/std) at the model's vision image_size.
 */
export function processorFor(dir: string | undefined, imageSize: number): { processor: ImageProcessor; source: string } {
  const file = dir && path.join(dir, 'preprocessor_config.json');
  if (file && fs.existsSync(file)) return { processor: ImageProcessor.fromPretrained(dir!), source: file };
  return {
    processor: ImageProcessor.fromConfig({ size: imageSize, crop_size: imageSize }),
    source: `CLIP defaults at ${imageSize}px (${dir ? `no preprocessor_config.json in ${dir}` : 'no model folder'})`,
  };
}

const isFolder = (p: string) => fs.existsSync(p) && fs.statSync(p).isDirectory();

/** The model: a folder, a hub id's snapshot, or (with a seed) a named config initialised at random. */
async function openModel(spec: string, o: OpenBundleOptions): Promise<{ model: AnyClipModel; dir?: string }> {
  let dir: string | undefined;
  if (isFolder(spec)) dir = spec;
  // Downloads a hub id, or names what is wrong with a spec that is neither a folder nor a hub id.
  else if (o.seed === undefined || isHubId(spec)) dir = await resolveModelDir(spec, { parts: ['config', 'weights', 'tokenizer', 'processor'], ...o.hub });
  else if (/[\\/]/.test(spec) || spec.startsWith('.')) throw new Error(`model folder not found: ${spec}`);
  if (dir) {
    if (!fs.existsSync(path.join(dir, 'config.json'))) throw new Error(`${dir}: not a model folder (no config.json)`);
    return { model: await loadClipLikeModel(dir), dir };
  }
  const cfg = getModelConfig(spec);
  return { model: cfg.model_type === 'altclip' ? new AltCLIPModel(cfg, { seed: o.seed }) : new CLIPModel(cfg, { seed: o.seed }) };
}

/** --tokenizer, else the model folder's tokenizer (the shipped CLIP BPE for a CLIP folder without one). */
async function openTokenizer(o: OpenBundleOptions, model: AnyClipModel, dir: string | undefined): Promise<TextTokenizer> {
  if (o.tokenizer && typeof o.tokenizer !== 'string') return o.tokenizer;
  if (o.tokenizer) return loadTokenizer(o.tokenizer, { hub: o.hub });
  if (dir) {
    try {
      return await loadTokenizer(dir);
    } catch (e) {
      throw new Error(`${dir}: cannot load the tokenizer (${(e as Error).message})`);
    }
  }
  if (model.config.model_type === 'clip') return CLIPTokenizer.load();
  throw new Error('an AltCLIP model needs an XLM-R tokenizer: pass --tokenizer <folder with sentencepiece.bpe.model>');
}

/**
 * Opens `spec` (a model folder, a hub id such as 'BAAI/AltCLIP' or 'org/name@revision' fetched with its tokenizer
 * and preprocessor_config.json, a named config with `seed`, or a model already in memory) with its tokenizer and
 * image processor.
 */
export async function loadModelBundle(spec: string | AnyClipModel, o: OpenBundleOptions = {}): Promise<ModelBundle> {
  const given = typeof spec !== 'string';
  const { model, dir } = given ? { model: spec, dir: undefined } : await openModel(spec, o);
  try {
    const tokenizer = await openTokenizer(o, model, dir);
    const { processor, source } = processorFor(dir, imageSizeOf(model.config));
    return { dir, model, config: model.config, tokenizer, processor, processorSource: source, dispose: () => (given ? undefined : model.dispose()) };
  } catch (e) {
    if (!given) model.dispose();
    throw e;
  }
}

/** The longest token sequence the model's text tower accepts, capped at 77 (CLIP/FlagAI's max_length). */
export function textMaxLength(config: { model_type?: string; text_config?: { max_position_embeddings?: number } } | undefined): number {
  const maxPos = config?.text_config?.max_position_embeddings;
  if (typeof maxPos !== 'number') return 77;
  // XLM-R positions start at padding_idx + 1 = 2, so 2 rows are unusable.
  return Math.min(77, config?.model_type === 'clip' ? maxPos : maxPos - 2);
}
