import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { fixture, REPO_ROOT } from '@altclip/test-utils';
import { AltCLIPModel } from '@altclip/models';
import { XLMRobertaTokenizer } from '@altclip/tokenizers';
import { encodeTexts } from '@altclip/data';
import { clipTask, computeGradients, selectTrainable, ClipBatch } from '../src';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

test('AltCLIP (tiny fixture), CLIP loss: 4 micro-batches of 2 give the gradient of the batch of 8, logit_scale included', async () => {
  const model = await AltCLIPModel.fromPretrained(fixture('altclip-tiny'));
  const tok = await XLMRobertaTokenizer.fromPretrained(path.join(REPO_ROOT, 'datasets', 'demo-spm'));
  const captions = ['a photo of a dress.', '一张包的照片。', 'a picture of a coat.', 'a photo of a sandal.', '一张外套的照片。', 'a bag.', 'a picture of a shirt.', '一幅连衣裙的图片。'];
  const pixels = tf.randomNormal([8, 3, 32, 32], 0, 1, 'float32', 4) as tf.Tensor4D;
  const batch = (rows: number[]): ClipBatch => {
    const { ids, mask } = encodeTexts(tok as any, rows.map((r) => captions[r]), 38);
    return { ids, mask, pixels: tf.gather(pixels, rows) as tf.Tensor4D };
  };
  for (const lockImage of [true, false]) {
    const params = selectTrainable(model.namedParameters(), { lockImage });
    const task = clipTask(model, { imageFrozen: lockImage, dropout: false });
    const ctx = { step: 0, seed: 0, training: true };
    const big = [batch([0, 1, 2, 3, 4, 5, 6, 7])];
    const micro = [batch([0, 1]), batch([2, 3]), batch([4, 5]), batch([6, 7])];
    const a = computeGradients(task, params, big, ctx, () => 0);
    const b = computeGradients(task, params, micro, ctx, (i) => i);
    expect(b.loss).toBeCloseTo(a.loss, 5);
    expect(b.terms.acc).toBe(a.terms.acc);
    expect([...b.grads.keys()].sort()).toEqual([...a.grads.keys()].sort());
    expect(a.grads.has('logit_scale')).toBe(true);
    expect(a.grads.has('vision_model.encoder.layers.0.mlp.fc1.weight')).toBe(!lockImage);
    for (const [k, g] of a.grads) {
      const ref = g.dataSync();
      const got = b.grads.get(k)!.dataSync();
      let scale = 0;
      let diff = 0;
      for (let i = 0; i < ref.length; i++) {
        scale = Math.max(scale, Math.abs(ref[i]));
        diff = Math.max(diff, Math.abs(ref[i] - got[i]));
      }
      if (diff > 1e-4 * scale + 1e-7) throw new Error(`${k}: max |diff| ${diff} vs max |grad| ${scale}`);
    }
    for (const r of [a, b]) tf.dispose([...r.grads.values()]);
    for (const x of [...big, ...micro]) tf.dispose([x.ids, x.mask, x.pixels!]);
  }
  pixels.dispose();
  model.dispose();
});
