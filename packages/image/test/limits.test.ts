/** Decompression bombs are refused from the header; decode failures always say which file and why. */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { fixture, tmpDir } from '@altclip/test-utils';
import { closeSharedPool, DEFAULT_MAX_IMAGE_PIXELS, getMaxImagePixels, ImageError, loadImage, preprocessFiles, setMaxImagePixels, PILLOW_MAX_IMAGE_PIXELS } from '@altclip/image';
import { decodeFailureReason } from '../src/decode';

const dir = tmpDir('altclip-image-limits-');
afterAll(async () => {
  setMaxImagePixels(DEFAULT_MAX_IMAGE_PIXELS);
  await closeSharedPool();
  fs.rmSync(dir, { recursive: true, force: true });
});

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** A valid PNG header declaring width x height grey pixels, with the first rows of zeros as data (a few KB). */
function bombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  const rows = zlib.deflateSync(Buffer.alloc((width + 1) * 4));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
}

test("defaults follow Pillow: error above 2 x MAX_IMAGE_PIXELS (89,478,485)", () => {
  expect(PILLOW_MAX_IMAGE_PIXELS).toBe(89_478_485);
  expect(getMaxImagePixels()).toBe(2 * 89_478_485);
});

test('a 16000x16000 PNG is refused from its header, before any pixel is decoded', async () => {
  const f = path.join(dir, 'bomb.png');
  fs.writeFileSync(f, bombPng(16000, 16000));
  const rss0 = process.memoryUsage().rss;
  const err = await loadImage(f).then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(ImageError);
  expect(err.file).toBe(f);
  expect(err.message).toBe(
    `cannot decode image ${f}: 16000x16000 = 256,000,000 pixels exceeds the limit of 178,956,970 (possible decompression bomb; raise it with --max-pixels, 0 for no limit)`,
  );
  // Decoding would need 256 MB for the grey pixels alone.
  expect(process.memoryUsage().rss - rss0).toBeLessThan(100 * 2 ** 20);
});

test('the limit covers JPEG (frame header), PNG, BMP, and worker pools; above half of it a warning is emitted', async () => {
  const jpg = fixture('preprocess', 'images', 'rgb_640x480.jpg'); // 307,200 pixels
  const png = fixture('preprocess', 'images', 'rgb_224x224.png'); // 50,176
  const bmp = path.join(dir, 'a.bmp');
  // A 24-bit BMP of 300x200 written by hand (sharp cannot write BMP).
  const [w, h] = [300, 200];
  const stride = Math.ceil((w * 3) / 4) * 4;
  const b = Buffer.alloc(54 + stride * h);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  fs.writeFileSync(bmp, b);
  expect((await loadImage(bmp)).width).toBe(300); // the file is a valid BMP
  setMaxImagePixels(100_000);
  try {
    await expect(loadImage(jpg)).rejects.toThrow(/640x480 = 307,200 pixels exceeds the limit of 100,000/);
    await expect(loadImage(path.join(dir, 'a.bmp'), { maxPixels: 50_000 })).rejects.toThrow(/300x200 = 60,000 pixels exceeds the limit of 50,000/);
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    await loadImage(bmp); // 60,000 > 50,000 = half the limit
    await loadImage(bmp); // once per file
    expect(warn.mock.calls).toEqual([[`${bmp}: 300x200 = 60,000 pixels is more than 50,000, half the --max-pixels limit`, 'DecompressionBombWarning']]);
    warn.mockRestore();
    expect((await loadImage(png)).width).toBe(224);
    // Worker threads get the limit with each task.
    const r = await preprocessFiles([png, jpg], { size: 32 }, { threads: 1, onError: 'skip' });
    expect(r.paths).toEqual([png]);
    expect(r.errors[0].message).toMatch(/rgb_640x480\.jpg: 640x480 = 307,200 pixels exceeds the limit of 100,000/);
    setMaxImagePixels(0); // no limit
    expect((await loadImage(jpg)).width).toBe(640);
  } finally {
    setMaxImagePixels(DEFAULT_MAX_IMAGE_PIXELS);
  }
});

test('a truncated JPEG decoded on worker threads names the file and says truncated (never a bare "Unknown error")', async () => {
  const cut = path.join(dir, 'cut.jpg');
  fs.writeFileSync(cut, fs.readFileSync(fixture('preprocess', 'images', 'rgb_640x480.jpg')).subarray(0, 20000));
  // libvips sometimes has no error text on a worker thread (sharp then says "Unknown error"): 16 tries.
  const r = await preprocessFiles(Array(16).fill(cut), { size: 32 }, { threads: 2, onError: 'skip' });
  expect(r.errors.length).toBe(16);
  for (const e of r.errors) expect(e.message).toMatch(new RegExp(`^cannot decode image ${cut}: (VipsJpeg: premature end of JPEG image|truncated JPEG \\(20000 bytes, no end-of-image marker\\))$`));
  // The reason when the decoder gives none, from the file's framing.
  expect(decodeFailureReason('Unknown error', fs.readFileSync(cut))).toBe('truncated JPEG (20000 bytes, no end-of-image marker)');
  const png = fs.readFileSync(fixture('preprocess', 'images', 'rgba_400x300.png'));
  expect(decodeFailureReason('Unknown error', png.subarray(0, 5000))).toBe('truncated PNG (5000 bytes, no IEND chunk)');
  expect(decodeFailureReason('a\nb\na\n', png)).toBe('a; b');
});
