/**
 * --frozen-dtype: a frozen tower kept in bf16/f16 computes exactly what f32 weights rounded to that dtype compute
 * (rounding done here independently, round-to-nearest-even as torch's .to(bfloat16/float16)), holds half the
 * bytes, and saves in that dtype.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { openSafetensors } from '@altclip/checkpoint';
import { fixture, maxAbsDiff, tmpDir } from '@altclip/test-utils';
import { AltCLIPModel, halfParams } from '../src';

/** float32 -> nearest bf16 / f16 value, as a float32 (ties to even). */
function roundBF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) << 16;
  return f[0];
}
function roundF16(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -14); // subnormals share the smallest exponent
  const ulp = 2 ** (e - 10);
  const q = x / ulp;
  const r = Math.round(q);
  const even = Math.abs(q - Math.trunc(q)) === 0.5 ? 2 * Math.round(q / 2) : r; // ties to even
  return even * ulp;
}

const ids = [[0, 5, 6, 7, 2, 1], [0, 8, 9, 10, 11, 2]];
const mask = [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]];
let pixels: tf.Tensor4D;
const isVision = (k: string) => k.startsWith('vision_model.') || k === 'visual_projection.weight';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
  pixels = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 3) as tf.Tensor4D;
});
afterAll(() => pixels.dispose());

for (const [dtype, round, fileDtype] of [['bf16', roundBF16, 'BF16'], ['f16', roundF16, 'F16']] as const) {
  test(`${dtype}: features equal those of rounded f32 weights, half the bytes, saved as ${fileDtype}, trainable refused`, async () => {
    const model = await AltCLIPModel.fromPretrained(fixture('altclip-tiny'));
    const ref = await AltCLIPModel.fromPretrained(fixture('altclip-tiny'));
    const frozen = [...model.namedParameters().keys()].filter(isVision);
    // reference: the same weights rounded in place (only those the store moves: rank >= 2)
    for (const k of frozen) {
      const v = ref.namedParameters().get(k)!;
      if (v.rank >= 2) v.assign(tf.tensor(Array.from(v.dataSync(), round), v.shape));
    }
    expect(() => model.storeFrozenAs(dtype, frozen)).toThrow(/is trainable/);
    for (const k of frozen) model.namedParameters().get(k)!.trainable = false;
    const bytesBefore = tf.memory().numBytes;
    const { moved, bytesSaved } = model.storeFrozenAs(dtype, frozen);
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.every(isVision)).toBe(true);
    expect(bytesBefore - tf.memory().numBytes).toBe(2 * bytesSaved); // f32 freed, half kept outside the backend
    for (const k of moved) expect(model.namedParameters().has(k)).toBe(false);

    const before = tf.memory().numTensors;
    const a = model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels });
    const b = ref.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels });
    expect(maxAbsDiff(a.imageEmbeds.dataSync(), b.imageEmbeds.dataSync())).toBe(0);
    expect(maxAbsDiff(a.logitsPerText.dataSync(), b.logitsPerText.dataSync())).toBe(0);
    tf.dispose([a, b] as unknown as tf.TensorContainer);
    expect(tf.memory().numTensors).toBe(before); // widened copies are freed with the forward pass

    const dir = tmpDir('altclip-half-');
    try {
      await model.save(dir);
      const r = await openSafetensors(path.join(dir, 'model.safetensors'));
      try {
        for (const k of moved) expect(r.info(k).dtype).toBe(fileDtype);
        expect(r.info('text_model.pre_LN.weight').dtype).toBe('F32');
      } finally {
        await r.close();
      }
      const back = await AltCLIPModel.fromPretrained(dir);
      const c = back.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels });
      const d = ref.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels });
      expect(maxAbsDiff(c.logitsPerText.dataSync(), d.logitsPerText.dataSync())).toBe(0);
      tf.dispose([c, d] as unknown as tf.TensorContainer);
      back.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(halfParams((model as any).params)?.size).toBe(moved.length);
    model.dispose();
    ref.dispose();
  });
}
