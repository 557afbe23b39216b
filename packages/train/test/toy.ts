import * as tf from '@tensorflow/tfjs-core';
import { clampLogitScale } from '../src';
import type { FeatureTask, BatchSource } from '../src';

/** symmetric CLIP cross-entropy over logits [n, n] with diagonal targets (the HF clip_loss). */
export function toyClipLoss(logits: tf.Tensor2D): tf.Scalar {
  const n = logits.shape[0];
  const labels = tf.oneHot(tf.range(0, n, 1, 'int32'), n);
  const ce = (l: tf.Tensor2D) => tf.mean(tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(l)), 1)));
  return tf.div(tf.add(ce(logits), ce(tf.transpose(logits) as tf.Tensor2D)), 2) as tf.Scalar;
}

export interface ToyBatch {
  text: tf.Tensor2D; // [n, dt]
  image: tf.Tensor2D; // [n, di]
}

/** A tiny two-tower contrastive model made of tf.Variables, with HF-like keys. */
export function makeToy(seed = 1, opts: { dropout?: number } = {}, dt = 6, di = 5, d = 4, h = 8) {
  const params = new Map<string, tf.Variable>();
  const v = (k: string, shape: number[], s: number) => params.set(k, tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', s), 0.5), true, `${k}_${seed}_${Math.random()}`));
  v('text_model.encoder.layers.0.fc.weight', [dt, h], seed);
  v('text_model.encoder.layers.0.fc.bias', [h], seed + 1);
  v('text_projection.weight', [h, d], seed + 2);
  v('vision_model.encoder.layers.0.fc.weight', [di, h], seed + 3);
  v('visual_projection.weight', [h, d], seed + 4);
  params.set('logit_scale', tf.variable(tf.scalar(Math.log(1 / 0.07)), true, `logit_scale_${seed}_${Math.random()}`));
  const P = (k: string) => params.get(k)!;
  const textFeat = (x: tf.Tensor2D, training: boolean) => {
    let hid = tf.tanh(tf.add(tf.matMul(x, P('text_model.encoder.layers.0.fc.weight')), P('text_model.encoder.layers.0.fc.bias')));
    // Unseeded tf.dropout, as the real models use it: its randomness comes from Math.random.
    if (training && opts.dropout) hid = tf.dropout(hid, opts.dropout);
    return tf.matMul(hid, P('text_projection.weight')) as tf.Tensor2D;
  };
  const imageFeat = (x: tf.Tensor2D) => tf.matMul(tf.tanh(tf.matMul(x, P('vision_model.encoder.layers.0.fc.weight'))), P('visual_projection.weight')) as tf.Tensor2D;
  const norm = (x: tf.Tensor2D) => tf.div(x, tf.norm(x, 2, 1, true)) as tf.Tensor2D;
  const task: FeatureTask<ToyBatch> = {
    features: (b, ctx) => [textFeat(b.text, ctx.training), imageFeat(b.image)],
    loss: ([t, i]) => {
      const logits = tf.mul(tf.matMul(norm(t as tf.Tensor2D), norm(i as tf.Tensor2D), false, true), tf.exp(P('logit_scale'))) as tf.Tensor2D;
      const loss = toyClipLoss(logits);
      const acc = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.range(0, logits.shape[0], 1, 'int32')), 'float32')) as tf.Scalar;
      return { loss, terms: { acc } };
    },
    // A CLIP-like task: its temperature is clamped after each update, as the real CLIP task's is.
    afterUpdate: clampLogitScale,
  };
  const dispose = () => tf.dispose([...params.values()]);
  return { params, task, dispose };
}

/** n random (text, image) vectors held as JS arrays; batches are built on request. */
export function toyData(n: number, seed = 7, dt = 6, di = 5): BatchSource<ToyBatch> {
  const text = tf.tidy(() => tf.randomNormal([n, dt], 0, 1, 'float32', seed).dataSync() as Float32Array);
  const image = tf.tidy(() => tf.randomNormal([n, di], 0, 1, 'float32', seed + 1).dataSync() as Float32Array);
  return {
    size: n,
    batch(idx) {
      const t = new Float32Array(idx.length * dt);
      const im = new Float32Array(idx.length * di);
      idx.forEach((r, j) => {
        t.set(text.subarray(r * dt, (r + 1) * dt), j * dt);
        im.set(image.subarray(r * di, (r + 1) * di), j * di);
      });
      return { text: tf.tensor2d(t, [idx.length, dt]), image: tf.tensor2d(im, [idx.length, di]) };
    },
  };
}
