import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize, RunOptions } from './ops';
import type { FrozenDtype } from './half';

/** What the trainer, evaluator and demo need from any CLIP-style dual encoder (AltCLIPModel, CLIPModel). */
export interface ClipLikeModel {
  readonly config: { model_type: string; projection_dim: number; [key: string]: unknown };
  /** ids/mask int32 [B, L] -> [B, projection_dim], NOT normalised (HF get_text_features). */
  getTextFeatures(ids: tf.Tensor2D | number[][], mask: tf.Tensor2D | number[][], opts?: RunOptions): tf.Tensor2D;
  /** pixels float32 NCHW [B, C, S, S] -> [B, projection_dim], NOT normalised (HF get_image_features). */
  getImageFeatures(pixels: tf.Tensor4D, opts?: RunOptions): tf.Tensor2D;
  /** log-space temperature (apply exp). */
  readonly logitScale: tf.Variable;
  namedParameters(): Map<string, tf.Variable>;
  /** Per-layer activation checkpointing while training (HF gradient_checkpointing_enable); same gradients, less memory. */
  gradientCheckpointingEnable(on?: boolean): unknown;
  /** Keeps these frozen parameters in bf16/f16, widened to f32 when read (--frozen-dtype). */
  storeFrozenAs(dtype: FrozenDtype, keys: Iterable<string>): { moved: string[]; bytesSaved: number };
  save(dir: string): Promise<void>;
  dispose(): void;
}

/** Outputs of a tower, HF naming. */
export interface ModelOutput {
  lastHiddenState: tf.Tensor3D;
  poolerOutput: tf.Tensor2D;
  hiddenStates?: tf.Tensor3D[];
}

export interface ForwardInputs {
  inputIds: tf.Tensor2D | number[][];
  attentionMask: tf.Tensor2D | number[][];
  pixelValues: tf.Tensor4D;
  outputHiddenStates?: boolean;
  training?: boolean;
}

/** HF CLIPOutput / AltCLIPOutput (without loss). text/image embeds are L2-normalised. */
export interface ClipForwardOutput {
  logitsPerImage: tf.Tensor2D;
  logitsPerText: tf.Tensor2D;
  textEmbeds: tf.Tensor2D;
  imageEmbeds: tf.Tensor2D;
  textModelOutput: ModelOutput;
  visionModelOutput: ModelOutput;
}

/** Disposes every tensor in a forward output (convenience for callers). */
export function disposeOutput(out: unknown): void {
  tf.dispose(out as tf.TensorContainer);
}

/** Shared joint head: normalise, scale, logits (HF AltCLIPModel/CLIPModel.forward). */
export function clipHead(textFeatures: tf.Tensor, imageFeatures: tf.Tensor, logitScale: tf.Tensor) {
  const textEmbeds = l2Normalize(textFeatures) as tf.Tensor2D;
  const imageEmbeds = l2Normalize(imageFeatures) as tf.Tensor2D;
  const logitsPerText = tf.mul(tf.matMul(textEmbeds, imageEmbeds, false, true), tf.exp(logitScale)) as tf.Tensor2D;
  return { textEmbeds, imageEmbeds, logitsPerText, logitsPerImage: tf.transpose(logitsPerText) as tf.Tensor2D };
}
