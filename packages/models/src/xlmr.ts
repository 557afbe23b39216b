/** XLM-R / RoBERTa body: embeddings + post-LN BERT encoder (HF modeling_altclip AltRobertaModel, no pooler). */
import * as tf from '@tensorflow/tfjs-core';
import { XLMRobertaConfig } from './config';
import { checkTokenIds, dropout, embedding, hostEmbedding, layerNorm, linear, paddingBias, param, Params, RunOptions, runLayer, selfAttention } from './ops';

export interface XlmrOptions extends RunOptions {
  outputHiddenStates?: boolean;
  /** word_embeddings kept as a host Float32Array [V*H] instead of a backend tensor (inference only). */
  hostWordEmbeddings?: Float32Array;
}

export interface XlmrOutput {
  lastHiddenState: tf.Tensor3D; // [B, L, H] raw encoder output (no final LN)
  hiddenStates?: tf.Tensor3D[]; // embeddings output + every layer output
}

/** RoBERTa position ids: cumsum(ids != pad) * (ids != pad) + pad, so real tokens start at pad+1 and pads get pad. */
export function robertaPositionIds(ids: tf.Tensor2D, pad: number): tf.Tensor2D {
  const notPad = tf.cast(tf.notEqual(ids, pad), 'int32');
  return tf.add(tf.mul(tf.cumsum(notPad, 1), notPad), tf.scalar(pad, 'int32')) as tf.Tensor2D;
}

/** Embeddings: LN(word[ids] + token_type[0] + position[pos]) then dropout. ids/mask [B, L] int32 -> [B, L, H]. */
export function xlmrEmbeddings(params: Params, prefix: string, c: XLMRobertaConfig, ids: tf.Tensor2D, opts: XlmrOptions): tf.Tensor3D {
  const p = `${prefix}embeddings.`;
  const H = c.hidden_size;
  const maxPos = c.max_position_embeddings;
  const L = ids.shape[1];
  if (L > maxPos - c.pad_token_id - 1)
    throw new Error(`text length ${L} exceeds the model's ${maxPos - c.pad_token_id - 1} positions (max_position_embeddings ${maxPos})`);
  checkTokenIds(ids, c.vocab_size, 'input_ids');
  const words = opts.hostWordEmbeddings
    ? hostEmbedding(opts.hostWordEmbeddings, H, ids.dataSync() as Int32Array, ids.shape)
    : embedding(param(params, `${p}word_embeddings.weight`), ids, c.pad_token_id);
  const positions = embedding(param(params, `${p}position_embeddings.weight`), robertaPositionIds(ids, c.pad_token_id), c.pad_token_id);
  // token_type_ids are all 0 (XLM-R tokenizers emit none): row 0 is added to every token.
  const tokenType = tf.slice(param(params, `${p}token_type_embeddings.weight`), [0, 0], [1, H]);
  const x = tf.add(tf.add(words, tokenType), positions);
  const normed = layerNorm(x, param(params, `${p}LayerNorm.weight`), param(params, `${p}LayerNorm.bias`), c.layer_norm_eps);
  return dropout(normed, c.hidden_dropout_prob, opts.training) as tf.Tensor3D;
}

/** One post-LN BERT layer: x = LN(x + attn(x)); x = LN(x + W2 act(W1 x)). */
export function xlmrLayer(params: Params, p: string, c: XLMRobertaConfig, x: tf.Tensor3D, bias: tf.Tensor, opts: RunOptions): tf.Tensor3D {
  const g = (n: string) => param(params, p + n);
  const attn = selfAttention(
    x,
    {
      q: [g('attention.self.query.weight'), g('attention.self.query.bias')],
      k: [g('attention.self.key.weight'), g('attention.self.key.bias')],
      v: [g('attention.self.value.weight'), g('attention.self.value.bias')],
      o: [g('attention.output.dense.weight'), g('attention.output.dense.bias')],
    },
    c.num_attention_heads,
    bias,
    { scaleQuery: false, dropout: c.attention_probs_dropout_prob, training: opts.training },
  );
  const a = layerNorm(
    tf.add(dropout(attn, c.hidden_dropout_prob, opts.training), x),
    g('attention.output.LayerNorm.weight'),
    g('attention.output.LayerNorm.bias'),
    c.layer_norm_eps,
  );
  const h = linear(a, g('intermediate.dense.weight'), g('intermediate.dense.bias'), c.hidden_act);
  const o = dropout(linear(h, g('output.dense.weight'), g('output.dense.bias')), c.hidden_dropout_prob, opts.training);
  return layerNorm(tf.add(o, a), g('output.LayerNorm.weight'), g('output.LayerNorm.bias'), c.layer_norm_eps) as tf.Tensor3D;
}

/** Full body. `prefix` is e.g. 'text_model.roberta.'; ids/mask int32 [B, L]. */
export function xlmrForward(params: Params, prefix: string, c: XLMRobertaConfig, ids: tf.Tensor2D, mask: tf.Tensor2D, opts: XlmrOptions = {}): XlmrOutput {
  if (mask.shape[0] !== ids.shape[0] || mask.shape[1] !== ids.shape[1])
    throw new Error(`attention_mask shape [${mask.shape}] does not match input_ids shape [${ids.shape}]`);
  let x = xlmrEmbeddings(params, prefix, c, ids, opts);
  const bias = paddingBias(mask); // [B, 1, 1, L]
  const hidden: tf.Tensor3D[] = [x];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    // Per-layer tidy: intermediates are freed after each layer (tensors the gradient tape needs are kept by tfjs).
    const p = `${prefix}encoder.layer.${l}.`;
    x = runLayer(params, p, x, bias, opts, (h, b) => xlmrLayer(params, p, c, h, b!, opts));
    hidden.push(x);
  }
  return { lastHiddenState: x, hiddenStates: opts.outputHiddenStates ? hidden : undefined };
}
