/** CIFAR-10 binary records -> openai CLIP 224 tensors (bicubic 32 -> 224 upscale), fixtures/cifar10_bin. */
import * as fs from 'fs';
import { fixture } from '@altclip/test-utils';
import { imageFromPixels, preprocess } from '@altclip/image';
import { sha256 } from './helpers';

const exp = JSON.parse(fs.readFileSync(fixture('cifar10_bin', 'expected.json'), 'utf8'));

/** One record: 1 label byte, then 1024 R + 1024 G + 1024 B (32x32 planes) -> HWC. */
function record(buf: Buffer, i: number): { label: number; hwc: Uint8Array } {
  const o = i * 3073;
  const hwc = new Uint8Array(3072);
  for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) hwc[3 * p + c] = buf[o + 1 + c * 1024 + p];
  return { label: buf[o], hwc };
}

describe.each(Object.keys(exp.files))('%s', (file) => {
  const info = exp.files[file];
  const withTensors = info.records.filter((r: any) => r.clip_224_f32_sha256);
  const buf = fs.readFileSync(fixture('cifar10_bin', file));

  test('records with CLIP 224 references match bit for bit', () => {
    if (withTensors.length === 0) return; // this file has no tensor references (e.g. test_batch)
    for (const r of withTensors) {
      const { label, hwc } = record(buf, r.index);
      expect(label).toBe(r.label);
      for (const [row, col, rgb] of r.pixels_rc_rgb) expect(Array.from(hwc.subarray((row * 32 + col) * 3, (row * 32 + col) * 3 + 3))).toEqual(rgb);
      const t = preprocess(imageFromPixels(hwc, 32, 32, 3), { size: 224, crop: 'openai' });
      expect(t.length).toBe(3 * 224 * 224);
      expect(Array.from(t.subarray(0, 8))).toEqual(r.clip_224_f32_first_row_first_8_R);
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = c * 50176; i < (c + 1) * 50176; i++) s += t[i];
        expect(s / 50176).toBeCloseTo(r.clip_224_f32_mean_per_channel[c], 10);
      }
      expect(sha256(t)).toBe(r.clip_224_f32_sha256);
    }
  });
});

test('the fixture set has CLIP 224 references to check', () => {
  const n = Object.values<any>(exp.files).reduce((a, f) => a + f.records.filter((r: any) => r.clip_224_f32_sha256).length, 0);
  expect(n).toBeGreaterThanOrEqual(3);
});
