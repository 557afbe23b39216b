/**
 * Exactness against the shared Pillow/torchvision/transformers references (fixtures/preprocess). Iterates over
 * every image listed in expected.json, so another fixture set with other images is checked the same way.
 */
import { fixture } from '@altclip/test-utils';
import { cropWindow, DecodedImage, loadImage, preprocess, preprocessToU8, shortestEdgeSize } from '@altclip/image';
import { pilArrayBytes, preprocessExpected, readSafetensors, sha256 } from './helpers';

const exp = preprocessExpected();
const tensorCache = new Map<string, ReturnType<typeof readSafetensors>>();
const tensors = (name: string) => {
  if (!tensorCache.has(name)) tensorCache.set(name, readSafetensors(fixture('preprocess', exp.files[name])));
  return tensorCache.get(name)!;
};
const images = new Map<string, DecodedImage>();
const opts = (size: number, crop: 'hf' | 'openai') => ({ size, crop, mean: exp.mean, std: exp.std });

function countDiff(a: ArrayLike<number>, b: ArrayLike<number>): { n: number; max: number } {
  expect(a.length).toBe(b.length);
  let n = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    // Object.is: bit-exact for floats (no tolerance needed when each op is rounded to float32).
    if (!Object.is(a[i], b[i])) {
      n++;
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
  }
  return { n, max };
}

/**
 * sharp's JPEG decoder matches libjpeg-turbo here, so everything is compared exactly. If another fixture set had a
 * JPEG it decodes differently, that image falls back to the README's decoder tolerance (max |u8 diff| <= 3, mean
 * < 0.5); PNG and other lossless inputs are always exact.
 */
const decodeExact = new Map<string, boolean>();

beforeAll(async () => {
  for (const c of exp.images) {
    const im = await loadImage(fixture('preprocess', c.file));
    images.set(c.key, im);
    decodeExact.set(c.key, c.pil_format !== 'JPEG' || sha256(pilArrayBytes(im)) === c.decoded_sha256);
  }
});

/** Exact, or within the JPEG decoder tolerance when the decode itself differs. */
function expectU8Close(key: string, ours: Uint8Array, ref: ArrayLike<number>): void {
  if (decodeExact.get(key)) {
    expect(countDiff(ours, ref)).toEqual({ n: 0, max: 0 });
    return;
  }
  let sum = 0;
  for (let i = 0; i < ours.length; i++) sum += Math.abs(ours[i] - ref[i]);
  expect(countDiff(ours, ref).max).toBeLessThanOrEqual(3);
  expect(sum / ours.length).toBeLessThan(0.5);
}

function expectF32Close(key: string, ours: Float32Array, ref: ArrayLike<number>): void {
  if (decodeExact.get(key)) expect(countDiff(ours, ref)).toEqual({ n: 0, max: 0 });
  else expect(countDiff(ours, ref).max).toBeLessThanOrEqual(3 / 255 / 0.26);
}

/** sha256 equality where the decode is exact (a JPEG decoded differently is covered by the stored tensors). */
function expectSha(key: string, data: ArrayBufferView, want: string): void {
  if (decodeExact.get(key)) expect(sha256(data)).toBe(want);
}

describe.each(exp.images.map((c) => [c.key, c] as const))('%s', (key, c) => {
  const img = () => images.get(key)!;

  test('decodes to the Pillow mode and pixels', () => {
    const im = img();
    expect(im.mode).toBe(c.pil_mode);
    expect([im.width, im.height]).toEqual(c.size_wh);
    expect(im.data.length).toBe(c.decoded_shape.reduce((a: number, b: number) => a * b, 1));
    if (c.pil_format === 'JPEG' && !decodeExact.get(key)) {
      console.warn(`${c.file}: JPEG decode differs from libjpeg-turbo; using the decoder tolerance for this image`);
    } else expect(sha256(pilArrayBytes(im))).toBe(c.decoded_sha256);
  });

  test('resize sizes and crop offsets', () => {
    for (const n of [224, 32]) {
      const [w, h] = shortestEdgeSize(c.size_wh[0], c.size_wh[1], n);
      expect([w, h]).toEqual(c.clip[`resized_wh_${n}`]);
      expect([cropWindow(h, n, 'openai').src0, cropWindow(w, n, 'openai').src0]).toEqual(c.clip[`crop_top_left_${n}`]);
      expect([cropWindow(h, n, 'hf').src0, cropWindow(w, n, 'hf').src0]).toEqual(c.hf[`crop_top_left_${n}`]);
    }
  });

  test('openai u8 crops: zero difference (224 and 32)', () => {
    const u224 = preprocessToU8(img(), opts(224, 'openai'));
    expectSha(key, u224, c.clip.u8_224_sha256);
    const stored = tensors('clip_224_u8').get(key);
    if (c.clip_224_u8_stored) expect(stored).toBeDefined();
    if (stored) {
      expect(stored.shape).toEqual([3, 224, 224]);
      expectU8Close(key, u224, stored.data);
    }
    expectU8Close(key, preprocessToU8(img(), opts(32, 'openai')), tensors('clip_32_u8').get(key)!.data);
  });

  test('hf u8 crop at 224 (sha256)', () => {
    expectSha(key, preprocessToU8(img(), opts(224, 'hf')), c.hf.u8_224_sha256);
  });

  test('float32 tensors bit-exact: clip 224 / clip 32 / hf 224 / hf 32', () => {
    const f224 = preprocess(img(), opts(224, 'openai'));
    expectSha(key, f224, c.clip.f32_224_sha256);
    const stored = tensors('clip_224_f32').get(key);
    if (stored) expectF32Close(key, f224, stored.data);
    expectF32Close(key, preprocess(img(), opts(32, 'openai')), tensors('clip_32_f32').get(key)!.data);
    expectSha(key, preprocess(img(), opts(224, 'hf')), c.hf.f32_224_sha256);
    expectF32Close(key, preprocess(img(), opts(32, 'hf')), tensors('hf_32_f32').get(key)!.data);
  });
});

test('EXIF-transposed variant with applyExif', async () => {
  const t = tensors('exif_transposed_clip_32_f32');
  expect(t.size).toBeGreaterThan(0);
  for (const [key, ref] of t) {
    const c = exp.images.find((i) => i.key === key)!;
    const im = await loadImage(fixture('preprocess', c.file), { applyExif: true });
    if (c.exif_orientation >= 5) expect([im.height, im.width]).toEqual(c.size_wh);
    expectF32Close(key, preprocess(im, opts(32, 'openai')), ref.data);
    // Without applyExif the stored orientation is used, which differs.
    expect(countDiff(preprocess(images.get(key)!, opts(32, 'openai')), ref.data).n).toBeGreaterThan(0);
  }
});
