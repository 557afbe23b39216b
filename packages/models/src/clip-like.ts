import * as tf from '@tensorflow/tfjs-core';
import type { CLIPVisionConfig } from './config';
import { FrozenDtype, storeFrozenAsHalf } from './half';
import { l2Normalize, linear, param, RunOptions, tidy } from './ops';
import type { ParamSpec } from './specs';
import { TowerOptions, visionForward } from './vision';
import { saveModelDir } from './weights';

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

/**
 * What AltCLIPModel and CLIPModel share: parameters by HF key, logit_scale, activation checkpointing, half storage
 * of frozen parameters, the projections and the joint head, saving and disposal. A subclass supplies its config,
 * its parameter specs and its text tower.
 */
export abstract class DualEncoder<C extends { model_type: string; projection_dim: number; vision_config: CLIPVisionConfig }> implements ClipLikeModel {
  abstract readonly config: C;
  abstract readonly specs: ParamSpec[];
  /** Map<HF state-dict key, tf.Variable>. */
  protected abstract params: Map<string, tf.Variable>;
  /** Tables kept as host arrays instead of tensors (AltCLIP's embeddingsOnHost); saved like the rest. */
  protected host = new Map<string, Float32Array>();

  /** Per-layer activation checkpointing in every forward while a gradient is recorded (HF's gradient_checkpointing_enable). */
  gradientCheckpointing = false;

  gradientCheckpointingEnable(on = true): this {
    this.gradientCheckpointing = on;
    return this;
  }

  get logitScale(): tf.Variable {
    return this.params.get('logit_scale')!;
  }

  /** Map<HF state-dict key, tf.Variable> (host tables and half-stored frozen parameters excluded). */
  namedParameters(): Map<string, tf.Variable> {
    return new Map(this.params);
  }

  /**
   * Keeps the given frozen parameters in bf16/f16 (widened to f32 when read; see half.ts): they leave
   * namedParameters() and are saved in that dtype. Throws for a trainable one.
   */
  storeFrozenAs(dtype: FrozenDtype, keys: Iterable<string>): { moved: string[]; bytesSaved: number } {
    return storeFrozenAsHalf(this.params, keys, dtype);
  }

  /** The text tower (HF text_model): last hidden state, pooled output, hidden states. */
  abstract textModel(inputIds: tf.Tensor2D | number[][], attentionMask: tf.Tensor2D | number[][] | undefined, opts?: TowerOptions): ModelOutput;

  /** The text feature before text_projection (the pooled output), computed as cheaply as the model allows. */
  protected abstract pooledText(inputIds: tf.Tensor2D | number[][], attentionMask: tf.Tensor2D | number[][], opts: RunOptions): tf.Tensor2D;

  visionModel(pixelValues: tf.Tensor4D, opts: TowerOptions = {}): ModelOutput {
    return tidy(() => visionForward(this.params, this.config.vision_config, pixelValues, { ...opts, gradCheckpointing: this.gradientCheckpointing }));
  }

  /** text_projection(pooled text) [B, projection_dim], not normalised (HF get_text_features). */
  getTextFeatures(inputIds: tf.Tensor2D | number[][], attentionMask: tf.Tensor2D | number[][], opts: RunOptions = {}): tf.Tensor2D {
    return tidy(() => linear(this.pooledText(inputIds, attentionMask, opts), param(this.params, 'text_projection.weight')) as tf.Tensor2D);
  }

  /** visual_projection(post_layernorm(CLS)) [B, projection_dim], not normalised (HF get_image_features). */
  getImageFeatures(pixelValues: tf.Tensor4D, opts: RunOptions = {}): tf.Tensor2D {
    return tidy(() => linear(this.visionModel(pixelValues, { training: opts.training }).poolerOutput, param(this.params, 'visual_projection.weight')) as tf.Tensor2D);
  }

  /** HF AltCLIPModel/CLIPModel.forward (no loss; use clipLoss(out.logitsPerText)). */
  forward(inputs: ForwardInputs): ClipForwardOutput {
    return tidy(() => {
      const opts = { training: inputs.training, outputHiddenStates: inputs.outputHiddenStates };
      const text = this.textModel(inputs.inputIds, inputs.attentionMask, opts);
      const vision = this.visionModel(inputs.pixelValues, opts);
      const head = clipHead(linear(text.poolerOutput, param(this.params, 'text_projection.weight')), linear(vision.poolerOutput, param(this.params, 'visual_projection.weight')), this.logitScale);
      return { ...head, textModelOutput: text, visionModelOutput: vision };
    });
  }

  /** Writes config.json + model.safetensors with the exact HF key set. */
  async save(dir: string): Promise<void> {
    await saveModelDir(dir, this.config, this.specs, this.params, this.host);
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.host.clear();
  }
}
