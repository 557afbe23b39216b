/** CLIP ViT (HF CLIPVisionTransformer / AltCLIPVisionTransformer). */
import * as tf from '@tensorflow/tfjs-core';
import { CLIPVisionConfig } from './config';
import { clipEncoder } from './clip-encoder';
import { layerNorm, linear, param, Params, RunOptions } from './ops';

export interface TowerOutput {
  lastHiddenState: tf.Tensor3D;
  poolerOutput: tf.Tensor2D;
  hiddenStates?: tf.Tensor3D[];
}

export interface TowerOptions extends RunOptions {
  outputHiddenStates?: boolean;
}

/**
 * Patch embedding without a convolution: cut [B, C, H, W] into p x p patches in row-major (h, w) grid order,
 * flatten each patch in (c, kh, kw) order and multiply by the conv weight reshaped to [hidden, C*p*p].
 * Equal to Conv2d(kernel = stride = p, no bias) + flatten(2).transpose(1, 2), and its gradient needs only
 * matMul/transpose kernels. Returns [B, gh*gw, hidden].
 */
export function patchEmbed(pixels: tf.Tensor4D, weight: tf.Tensor, patch: number): tf.Tensor3D {
  const [B, C, H, W] = pixels.shape;
  const gh = H / patch;
  const gw = W / patch;
  const hidden = weight.shape[0];
  // [B*C*gh, p, gw, p] -> [B*C*gh, gw, p, p]: rows of each patch become contiguous.
  const a = tf.transpose(tf.reshape(pixels, [B * C * gh, patch, gw, patch]), [0, 2, 1, 3]);
  // [B, C, gh*gw, p*p] -> [B, gh*gw, C, p*p] -> [B*P, C*p*p]
  const b = tf.reshape(tf.transpose(tf.reshape(a, [B, C, gh * gw, patch * patch]), [0, 2, 1, 3]), [B * gh * gw, C * patch * patch]);
  const w = tf.reshape(weight, [hidden, C * patch * patch]);
  // linear (x W^T) rather than tf.matMul, so a bf16 autocast (precision.ts) applies to the patch embedding too.
  return tf.reshape(linear(b, w), [B, gh * gw, hidden]) as tf.Tensor3D;
}

/** pixels float32 NCHW [B, C, S, S] (already normalised) -> last hidden [B, 1+P, H], pooled post_layernorm(CLS). */
export function visionForward(params: Params, c: CLIPVisionConfig, pixels: tf.Tensor4D, opts: TowerOptions = {}): TowerOutput {
  const p = 'vision_model.';
  const [B, C, H, W] = pixels.shape;
  if (pixels.rank !== 4 || C !== c.num_channels || H !== c.image_size || W !== c.image_size)
    throw new Error(
      `pixel_values must be [batch, ${c.num_channels}, ${c.image_size}, ${c.image_size}] (NCHW), got [${pixels.shape}] ` +
        '(interpolate_pos_encoding is not supported)',
    );
  const hidden = c.hidden_size;
  const patches = patchEmbed(pixels, param(params, `${p}embeddings.patch_embedding.weight`), c.patch_size);
  const cls = tf.broadcastTo(tf.reshape(param(params, `${p}embeddings.class_embedding`), [1, 1, hidden]), [B, 1, hidden]);
  const pos = param(params, `${p}embeddings.position_embedding.weight`); // [1+P, H]
  const emb = tf.add(tf.concat([cls, patches], 1), pos) as tf.Tensor3D;
  const x = layerNorm(emb, param(params, `${p}pre_layrnorm.weight`), param(params, `${p}pre_layrnorm.bias`), c.layer_norm_eps) as tf.Tensor3D;
  const layers = clipEncoder(params, p, c, x, undefined, opts);
  const last = layers.length ? layers[layers.length - 1] : x;
  const clsOut = tf.reshape(tf.slice(last, [0, 0, 0], [B, 1, hidden]), [B, hidden]);
  const pooled = layerNorm(clsOut, param(params, `${p}post_layernorm.weight`), param(params, `${p}post_layernorm.bias`), c.layer_norm_eps) as tf.Tensor2D;
  return { lastHiddenState: last, poolerOutput: pooled, hiddenStates: opts.outputHiddenStates ? [x, ...layers] : undefined };
}
