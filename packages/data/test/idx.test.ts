import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { tmpDir } from '@altclip/test-utils';
import { readIdx, writeIdx, parseIdx, findFashionMnist, readFashionMnist, FASHION_MNIST_CLASSES } from '@altclip/data';

describe('IDX reader', () => {
  const dir = tmpDir();
  afterAll(() => fs.rmSync(dir, { recursive: true }));

  /** A hand-built IDX file: magic bytes and big-endian dims written out literally (not with writeIdx). */
  function handMade(file: string, dims: number[], data: Uint8Array, gz: boolean) {
    const bytes = [0, 0, 0x08, dims.length];
    for (const d of dims) bytes.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
    const raw = Buffer.concat([Buffer.from(bytes), Buffer.from(data)]);
    fs.writeFileSync(file, gz ? zlib.gzipSync(raw) : raw);
  }

  test.each([false, true])('hand-made files (gzip %s): dims, pixels, labels', async (gz) => {
    const n = 7, h = 5, w = 300; // w > 255 exercises multi-byte big-endian dims
    const px = new Uint8Array(n * h * w).map((_, i) => (i * 31 + 7) & 255);
    const lab = Uint8Array.from({ length: n }, (_, i) => (i * 3) % 10);
    const ext = gz ? '.gz' : '';
    handMade(path.join(dir, `im${ext}`), [n, h, w], px, gz);
    handMade(path.join(dir, `lb${ext}`), [n], lab, gz);
    const ds = readIdx(path.join(dir, `im${ext}`), path.join(dir, `lb${ext}`));
    expect([ds.size, ds.height, ds.width]).toEqual([n, h, w]);
    expect(Array.from(ds.labels)).toEqual(Array.from(lab));
    const img = await ds.getImage(4);
    expect([img.width, img.height, img.channels]).toEqual([w, h, 1]);
    expect(Array.from(img.data)).toEqual(Array.from(px.subarray(4 * h * w, 5 * h * w)));
  });

  test('writeIdx round trip', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    writeIdx(path.join(dir, 'rt.gz'), [2, 3, 4], data);
    const back = parseIdx(fs.readFileSync(path.join(dir, 'rt.gz')), 'rt.gz');
    expect(back.dims).toEqual([2, 3, 4]);
    expect(Array.from(back.data)).toEqual(Array.from(data));
  });

  test('wrong magic, swapped files and truncation are clear errors naming the file', () => {
    handMade(path.join(dir, 'i3'), [2, 2, 2], new Uint8Array(8), false);
    handMade(path.join(dir, 'l1'), [2], new Uint8Array(2), false);
    expect(() => readIdx(path.join(dir, 'l1'), path.join(dir, 'i3'))).toThrow(/l1.*0x00000801.*expected 0x00000803/);
    fs.writeFileSync(path.join(dir, 'trunc'), fs.readFileSync(path.join(dir, 'i3')).subarray(0, 15));
    expect(() => readIdx(path.join(dir, 'trunc'), path.join(dir, 'l1'))).toThrow(/trunc.*truncated/);
    fs.writeFileSync(path.join(dir, 'junk'), Buffer.from('hello world!'));
    expect(() => readIdx(path.join(dir, 'junk'), path.join(dir, 'l1'))).toThrow(/junk.*not an IDX/);
    handMade(path.join(dir, 'l3'), [3], new Uint8Array(3), false);
    expect(() => readIdx(path.join(dir, 'i3'), path.join(dir, 'l3'))).toThrow(/3 labels but .* 2 images/);
  });

  const fm = findFashionMnist();
  (fm ? test : test.skip)(`real Fashion-MNIST files (${fm?.dir ?? 'not installed: skipped'})`, async () => {
    for (const split of ['train', 'test'] as const) {
      const ds = readFashionMnist(fm!.dir, split);
      expect([ds.height, ds.width]).toEqual([28, 28]);
      expect(ds.classNames).toEqual(FASHION_MNIST_CLASSES);
      // Fashion-MNIST is class balanced in both the full files and the shipped subset.
      const counts = new Array(10).fill(0);
      for (const l of ds.labels) counts[l]++;
      expect(new Set(counts).size).toBe(1);
      const img = await ds.getImage(ds.size - 1);
      expect(img.data.length).toBe(28 * 28);
    }
  });
});
