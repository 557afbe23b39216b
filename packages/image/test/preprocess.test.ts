/**
 * Exactness against the shared Pillow/torchvision/transformers references (fixtures/preprocess). Iterates over
 * every image listed in expected.json, so another fixture set with other images is checked the same way.
 */
import { fixture } from '@altclip/test-utils';
import { cropWindow, DecodedImage, loadImage, preprocess, preprocessToU8, shortestEdgeSize } from '@altclip/image';
import { preprocessExpected, readSafetensors, sha256 } from './helpers';

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

beforeAll(async () => {
  for (const c of exp.images) images.set(c.key, await loadImage(fixture('preprocess', c.file)));
});

describe.each(exp.images.map((c) => [c.key, c] as const))('%s', (key, c) => {
  const img = () => images.get(key)!;

  test('decodes to the Pillow mode and pixels', () => {
    const im = img();
    expect(im.mode).toBe(c.pil_mode);
    expect([im.width, im.height]).toEqual(c.size_wh);
    expect(im.data.length).toBe(c.decoded_shape.reduce((a: number, b: number) => a * b, 1));
    expect(sha256(im.data)).toBe(c.decoded_sha256);
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
    expect(sha256(u224)).toBe(c.clip.u8_224_sha256);
    const stored = tensors('clip_224_u8').get(key);
    if (c.clip_224_u8_stored) expect(stored).toBeDefined();
    if (stored) {
      expect(stored.shape).toEqual([3, 224, 224]);
      expect(countDiff(u224, stored.data)).toEqual({ n: 0, max: 0 });
    }
    const u32 = preprocessToU8(img(), opts(32, 'openai'));
    expect(countDiff(u32, tensors('clip_32_u8').get(key)!.data)).toEqual({ n: 0, max: 0 });
  });

  test('hf u8 crop at 224 (sha256)', () => {
    expect(sha256(preprocessToU8(img(), opts(224, 'hf')))).toBe(c.hf.u8_224_sha256);
  });

  test('float32 tensors bit-exact: clip 224 / clip 32 / hf 224 / hf 32', () => {
    const f224 = preprocess(img(), opts(224, 'openai'));
    expect(sha256(f224)).toBe(c.clip.f32_224_sha256);
    const stored = tensors('clip_224_f32').get(key);
    if (stored) expect(countDiff(f224, stored.data)).toEqual({ n: 0, max: 0 });
    expect(countDiff(preprocess(img(), opts(32, 'openai')), tensors('clip_32_f32').get(key)!.data)).toEqual({ n: 0, max: 0 });
    expect(sha256(preprocess(img(), opts(224, 'hf')))).toBe(c.hf.f32_224_sha256);
    expect(countDiff(preprocess(img(), opts(32, 'hf')), tensors('hf_32_f32').get(key)!.data)).toEqual({ n: 0, max: 0 });
  });
});

test('EXIF-transposed variant with applyExif', async () => {
  const t = tensors('exif_transposed_clip_32_f32');
  expect(t.size).toBeGreaterThan(0);
  for (const [key, ref] of t) {
    const c = exp.images.find((i) => i.key === key)!;
    const im = await loadImage(fixture('preprocess', c.file), { applyExif: true });
    if (c.exif_orientation >= 5) expect([im.height, im.width]).toEqual(c.size_wh);
    expect(countDiff(preprocess(im, opts(32, 'openai')), ref.data)).toEqual({ n: 0, max: 0 });
    // Without applyExif the stored orientation is used, which differs.
    expect(countDiff(preprocess(images.get(key)!, opts(32, 'openai')), ref.data).n).toBeGreaterThan(0);
  }
});
