/** Bad images are clear errors that name the file. */
import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { ImageError, imageFromPixels, loadImage, preprocess } from '@altclip/image';

const dir = tmpDir('altclip-image-err-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, data: Buffer | string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

test.each([
  ['missing file', () => path.join(dir, 'nope.jpg'), /cannot read image .*nope\.jpg/],
  ['zero bytes', () => write('empty.png', Buffer.alloc(0)), /empty\.png.*empty \(0 bytes\)/],
  ['text file', () => write('notes.jpg', 'this is not an image\n'), /cannot decode image .*notes\.jpg/],
  ['truncated JPEG', () => write('cut.jpg', fs.readFileSync(fixture('preprocess', 'images', 'rgb_640x480.jpg')).subarray(0, 9000)), /cannot decode image .*cut\.jpg/],
  ['truncated PNG', () => write('cut.png', fs.readFileSync(fixture('preprocess', 'images', 'rgba_400x300.png')).subarray(0, 5000)), /cannot decode image .*cut\.png/],
])('%s', async (_name, make, re) => {
  const p = make();
  const err = await loadImage(p).then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(ImageError);
  expect(err.message).toMatch(re);
  expect(err.file).toBe(p);
});

test('buffers are named in errors', async () => {
  await expect(loadImage(Buffer.from('garbage'), { name: 'shard-3/000017.jpg' })).rejects.toThrow(/shard-3\/000017\.jpg/);
});

test('imageFromPixels checks sizes', () => {
  expect(() => imageFromPixels(new Uint8Array(10), 2, 2, 3)).toThrow(/10 bytes, expected 2x2x3 = 12/);
  expect(() => imageFromPixels(new Uint8Array(5), 5, 1, 5)).toThrow(/channel count 5/);
  expect(imageFromPixels(new Uint8Array(28 * 28), 28, 28, 1).mode).toBe('L');
});

test('bad preprocessing options are clear errors', () => {
  const img = imageFromPixels(new Uint8Array(4 * 4 * 3), 4, 4, 3);
  expect(() => preprocess(img, { size: 0 })).toThrow(/size must be a positive integer/);
  expect(() => preprocess(img, { size: 8, cropSize: { height: 8, width: 2.5 } })).toThrow(/cropSize must be/);
  expect(() => preprocess(img, { crop: 'center' as never })).toThrow(/unknown crop style 'center'/);
});
