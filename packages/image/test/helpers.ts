import * as fs from 'fs';
import * as crypto from 'crypto';
import { fixture } from '@altclip/test-utils';

/** Minimal safetensors reader for the reference tensors (U8 / F32 only). */
export function readSafetensors(file: string): Map<string, { dtype: string; shape: number[]; data: Uint8Array | Float32Array }> {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = new Map();
  for (const [k, v] of Object.entries<any>(header)) {
    if (k === '__metadata__') continue;
    const [a, b] = v.data_offsets;
    const bytes = new Uint8Array(buf.buffer.slice(buf.byteOffset + 8 + n + a, buf.byteOffset + 8 + n + b));
    const data = v.dtype === 'F32' ? new Float32Array(bytes.buffer) : bytes;
    out.set(k, { dtype: v.dtype, shape: v.shape, data });
  }
  return out;
}

export const sha256 = (d: ArrayBufferView) => crypto.createHash('sha256').update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)).digest('hex');

export interface PreprocessCase {
  key: string;
  file: string;
  pil_mode: string;
  decoded_sha256: string;
  decoded_shape: number[];
  clip: { resized_wh_224: number[]; crop_top_left_224: number[]; u8_224_sha256: string; f32_224_sha256: string };
  hf: { u8_224_sha256: string; f32_224_sha256: string; crop_top_left_224: number[] };
  [k: string]: any;
}

export function preprocessExpected(): { mean: number[]; std: number[]; images: PreprocessCase[]; files: Record<string, string> } {
  return JSON.parse(fs.readFileSync(fixture('preprocess', 'expected.json'), 'utf8'));
}

/** The bytes of `np.asarray(PIL image)`: mode I as int32 LE, mode 1 as booleans (0/1), others as stored. */
export function pilArrayBytes(img: { mode: string; data: Uint8Array; data16?: Uint16Array }): ArrayBufferView {
  if (img.mode === 'I') return Int32Array.from(img.data16 ?? img.data);
  if (img.mode === '1') return img.data.map((v) => (v ? 1 : 0));
  return img.data;
}
