/** Image files are read with a size bound; what cannot be an image file is refused before reading (issue 24, item 10). */
import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { fixture, tmpDir } from '@altclip/test-utils';
import { closeSharedPool, ImageError, loadImage, maxImageFileBytes, preprocessFiles, readImageFileSync } from '@altclip/image';

const dir = tmpDir('altclip-image-read-');
afterAll(async () => {
  await closeSharedPool();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the bound: 8 bytes a pixel (16-bit RGBA) plus 16 MiB of metadata, at most what Node reads in one piece', () => {
  expect(maxImageFileBytes(1000)).toBe(8000 + 16 * 2 ** 20);
  expect(maxImageFileBytes(2 * 89_478_485)).toBe(2 * 89_478_485 * 8 + 16 * 2 ** 20);
  expect(maxImageFileBytes(0)).toBe(2 ** 31 - 1);
  expect(maxImageFileBytes(1e12)).toBe(2 ** 31 - 1);
});

test('/dev/zero and directories are refused at once, by the main thread and by the pool workers alike', async () => {
  const t0 = Date.now();
  await expect(loadImage('/dev/zero')).rejects.toThrow(new ImageError('cannot read image /dev/zero: it is a character device, not an image file'));
  await expect(loadImage(dir)).rejects.toThrow(`cannot read image ${dir}: it is a directory, not an image file`);
  expect(() => readImageFileSync('/dev/zero', 0)).toThrow('cannot read image /dev/zero: it is a character device, not an image file');
  const good = fixture('preprocess', 'images', 'rgb_50x80.png');
  const r = await preprocessFiles([good, '/dev/zero'], { size: 32, cropSize: 32 }, { threads: 1, onError: 'skip' });
  expect(r.paths).toEqual([good]);
  expect(r.errors).toEqual([{ path: '/dev/zero', message: 'cannot read image /dev/zero: it is a character device, not an image file' }]);
  expect(Date.now() - t0).toBeLessThan(10000); // used to read /dev/zero until memory ran out
});

test('a regular file larger than any image under the pixel limit is refused from its size, without reading it', async () => {
  const big = path.join(dir, 'huge.png');
  fs.writeFileSync(big, fs.readFileSync(fixture('preprocess', 'images', 'rgb_50x80.png')));
  fs.truncateSync(big, 64 * 2 ** 20); // sparse: 64 MiB that take no disk space
  const limit = maxImageFileBytes(1000);
  await expect(loadImage(big, { maxPixels: 1000 })).rejects.toThrow(
    `cannot read image ${big}: it is 67,108,864 bytes, more than the ${limit.toLocaleString('en-US')} bytes any image file under the pixel limit can have (raise it with --max-pixels)`,
  );
  expect(() => readImageFileSync(big, 1000)).toThrow(`cannot read image ${big}: it is 67,108,864 bytes`);
  // Under the default limit the same file is read (a PNG decoder ignores what follows its IEND chunk).
  expect((await loadImage(big)).width).toBe(50);
});

test('a FIFO is read up to the bound, then refused; a FIFO holding an image decodes', async () => {
  const fifo = path.join(dir, 'pipe.png');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  // An endless writer (as /dev/zero through a pipe): stops at the bound.
  const writer = spawn('sh', ['-c', `exec cat /dev/zero > ${fifo}`], { stdio: 'ignore' }); // exec: kill() stops cat itself
  const exited = new Promise((r) => writer.on('exit', r));
  try {
    await expect(loadImage(fifo, { maxPixels: 1000 })).rejects.toThrow(new RegExp(`^cannot read image ${fifo}: it holds over [\\d,]+ bytes, more than the 16,785,216 bytes`));
  } finally {
    writer.kill();
    await exited;
  }
  const png = fixture('preprocess', 'images', 'rgb_50x80.png');
  const feeder = spawn('sh', ['-c', `exec cat ${png} > ${fifo}`], { stdio: 'ignore' });
  const fed = new Promise((r) => feeder.on('exit', r));
  const img = await loadImage(fifo);
  expect([img.width, img.height]).toEqual([50, 80]);
  await fed;
}, 60000);
