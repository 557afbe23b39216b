/** Pre-LN CLIP encoder, shared by the CLIP text transformer and the CLIP ViT (HF CLIPEncoder / AltCLIPEncoder). */
import * as tf from '@tensorflow/tfjs-core';
import { activation, layerNorm, linear, param, Params, RunOptions, runLayer, selfAttention } from './ops';

export interface ClipEncoderConfig {
  hidden_size: number;
  num_attention_heads: number;
  num_hidden_layers: number;
  hidden_act: string;
  layer_norm_eps: number;
  attention_dropout: number;
}

/** x [B, L, H] -> per layer: x += out_proj(attn(LN1 x)); x += fc2(act(fc1(LN2 x))). Returns every layer output. */
export function clipEncoder(
  params: Params,
  prefix: string,
  c: ClipEncoderConfig,
  x: tf.Tensor3D,
  bias: tf.Tensor | undefined,
  opts: RunOptions,
): tf.Tensor3D[] {
  activation(c.hidden_act); // throws for an unsupported hidden_act before any layer runs
  const outputs: tf.Tensor3D[] = [];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `${prefix}encoder.layers.${l}.`;
    x = runLayer(params, p, x, bias, opts, (h, b) => clipLayer(params, p, c, h, b, opts));
    outputs.push(x);
  }
  return outputs;
}

/** One pre-LN CLIP layer (run inside a tidy so its intermediates are freed right after it). */
function clipLayer(
  params: Params,
  p: string,
  c: ClipEncoderConfig,
  x: tf.Tensor3D,
  bias: tf.Tensor | undefined,
  opts: RunOptions,
): tf.Tensor3D {
  const g = (n: string) => param(params, p + n);
  const h = layerNorm(x, g('layer_norm1.weight'), g('layer_norm1.bias'), c.layer_norm_eps);
  const attn = selfAttention(
    h,
    {
      q: [g('self_attn.q_proj.weight'), g('self_attn.q_proj.bias')],
      k: [g('self_attn.k_proj.weight'), g('self_attn.k_proj.bias')],
      v: [g('self_attn.v_proj.weight'), g('self_attn.v_proj.bias')],
      o: [g('self_attn.out_proj.weight'), g('self_attn.out_proj.bias')],
    },
    c.num_attention_heads,
    bias,
    { scaleQuery: true, dropout: c.attention_dropout, training: opts.training },
  );
  x = tf.add(x, attn) as tf.Tensor3D;
  const m = layerNorm(x, g('layer_norm2.weight'), g('layer_norm2.bias'), c.layer_norm_eps);
  const mlp = linear(linear(m, g('mlp.fc1.weight'), g('mlp.fc1.bias'), c.hidden_act), g('mlp.fc2.weight'), g('mlp.fc2.bias'));
  return tf.add(x, mlp) as tf.Tensor3D;
}
