/**
 * Attention dropout inside the fused attention kernel (native backend): the kernel's mask is not exposed, so the
 * test reads it back with V = identity per head (then out = (P * M) / (1 - rate) itself), checks it against P from
 * the composed ops (every entry 0 or P / (1 - rate), the dropped fraction near the rate), and checks q, k, v
 * gradients against tfjs's gradients of the composed ops with that same mask held constant.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { nativeStatus } from '@altclip/native';
import { attention, setFusedKernels } from '@altclip/models';

const maybe = nativeStatus().available ? test : test.skip;

/** Math.random fixed for the call, so the kernel's seed (one draw) repeats. */
function seeded<T>(f: () => T): T {
  const orig = Math.random;
  Math.random = () => 0.123456;
  try {
    return f();
  } finally {
    Math.random = orig;
  }
}

maybe('fused attention with dropout: mask of 0 or P / (1 - rate) entries at the rate, gradients of the composed ops with that mask', async () => {
  await setupBackend({ backend: 'native' });
  const [B, L, heads, d] = [2, 24, 2, 24]; // Lk = d, so V can be the identity per head
  const H = heads * d;
  const rate = 0.3;
  const opts = { scaleQuery: false, dropout: rate, training: true };
  const q = tf.randomNormal([B, L, H], 0, 1, 'float32', 1);
  const k = tf.randomNormal([B, L, H], 0, 1, 'float32', 2);
  const v = tf.randomNormal([B, L, H], 0, 1, 'float32', 3);
  const bias = tf.tensor4d(Array.from({ length: B * L }, (_, i) => (i % L > L - 4 && i >= L ? -1e9 : 0)), [B, 1, 1, L]); // pad the last keys of batch 1
  // V = identity per head: out[b, i, h*d + j] = (P * M)[b, h, i, j] / (1 - rate)
  const eye = tf.reshape(tf.tile(tf.reshape(tf.eye(d), [1, d, 1, d]), [B, 1, heads, 1]), [B, L, H]);
  const dropped = seeded(() => attention(q, k, eye, heads, bias, opts)); // [B, L, H]
  setFusedKernels(false);
  const probs = attention(q, k, eye, heads, bias, { ...opts, training: false }); // composed, no dropout: P itself
  setFusedKernels(true);
  const dv = dropped.dataSync(), pv = probs.dataSync();
  let zeros = 0, live = 0, wrong = 0;
  for (let i = 0; i < dv.length; i++) {
    if (pv[i] === 0) continue; // a padded key: 0 with or without dropout
    live++;
    if (dv[i] === 0) zeros++;
    else if (Math.abs(dv[i] - pv[i] / (1 - rate)) > 1e-5 * (1 + pv[i])) wrong++;
  }
  expect(wrong).toBe(0);
  // Binomial: 5 standard deviations of the dropped fraction.
  expect(Math.abs(zeros / live - rate)).toBeLessThan(5 * Math.sqrt((rate * (1 - rate)) / live));
  // The mask as a [B, heads, L, L] tensor, then the composed ops with it as a constant.
  const mask = tf.tidy(() => tf.cast(tf.transpose(tf.reshape(tf.notEqual(dropped, 0), [B, L, heads, d]), [0, 2, 1, 3]), 'float32'));
  const w = tf.randomNormal([B, L, H], 0, 1, 'float32', 4);
  const composed = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => {
    const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, L, heads, d]), [0, 2, 1, 3]);
    const p = tf.softmax(tf.add(tf.div(tf.matMul(split(qq), split(kk), false, true), Math.sqrt(d)), bias));
    const o = tf.matMul(tf.mul(p, tf.div(mask, 1 - rate)), split(vv));
    return tf.sum(tf.mul(tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [B, L, H]), w));
  };
  const ref = tf.grads(composed)([q, k, v]);
  const got = seeded(() => tf.grads((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => tf.sum(tf.mul(attention(qq, kk, vv, heads, bias, opts), w)))([q, k, v]));
  for (let i = 0; i < 3; i++) {
    const diff = tf.max(tf.abs(tf.sub(got[i], ref[i]))).dataSync()[0];
    const scale = tf.max(tf.abs(ref[i])).dataSync()[0];
    expect(diff).toBeLessThan(1e-4 * Math.max(1, scale));
  }
  await setupBackend({ backend: 'cpu' });
});
