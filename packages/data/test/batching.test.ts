import { createSampler, shuffledIndices, prefetch, imageBatchLoader, sequentialBatches } from '@altclip/data';

test('shuffledIndices: a permutation, deterministic in (seed, epoch), different across epochs and seeds', () => {
  const a = shuffledIndices(1000, 42, 0);
  expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  expect(Array.from(shuffledIndices(1000, 42, 0))).toEqual(Array.from(a));
  expect(Array.from(shuffledIndices(1000, 42, 1))).not.toEqual(Array.from(a));
  expect(Array.from(shuffledIndices(1000, 43, 0))).not.toEqual(Array.from(a));
});

test('sampler: epochs cover everything once; resuming from state() continues identically', () => {
  const opts = { batchSize: 7, seed: 5 };
  const s = createSampler(50, opts);
  expect(s.batchesPerEpoch).toBe(8);
  const seen: number[] = [];
  const all: number[][] = [];
  for (let b = 0; b < 8; b++) {
    const batch = s.next();
    expect(batch.epoch).toBe(0);
    seen.push(...batch.indices);
    all.push(Array.from(batch.indices));
  }
  expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  const ref = createSampler(50, opts);
  for (let b = 0; b < 11; b++) ref.next();
  const saved = ref.state();
  expect(saved).toEqual({ seed: 5, size: 50, epoch: 1, position: 21 });
  const resumed = createSampler(50, opts, saved);
  for (let b = 0; b < 10; b++) expect(Array.from(resumed.next().indices)).toEqual(Array.from(ref.next().indices));
  expect(() => createSampler(51, opts, saved)).toThrow(/resume/);
});

test('sampler dropLast and no shuffle', () => {
  const s = createSampler(10, { batchSize: 4, shuffle: false, dropLast: true });
  expect([0, 1, 2].map(() => Array.from(s.next().indices))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3]]);
});

test('prefetch keeps `depth` loads in flight, yields in order, surfaces errors', async () => {
  let inFlight = 0;
  let peak = 0;
  const load = async (x: number) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 5 + ((x * 7) % 3)));
    inFlight--;
    return x * 10;
  };
  const out: number[] = [];
  for await (const v of prefetch([0, 1, 2, 3, 4, 5], load, 3)) {
    out.push(v);
    await new Promise((r) => setTimeout(r, 10)); // "compute"
  }
  expect(out).toEqual([0, 10, 20, 30, 40, 50]);
  expect(peak).toBeGreaterThanOrEqual(2);
  expect(peak).toBeLessThanOrEqual(3);
  const failing = prefetch([1, 2], async (x) => {
    if (x === 2) throw new Error('boom 2');
    return x;
  });
  await expect((async () => { for await (const _ of failing); })()).rejects.toThrow('boom 2');
});

test('imageBatchLoader: NCHW batch, unreadable images skipped and reported', async () => {
  const ds = {
    getImage: async (i: number) => {
      if (i === 2) throw new Error('bad.jpg: cannot decode');
      return { width: 1, height: 1, channels: 3, data: new Uint8Array([i, i, i]) };
    },
  };
  const load = imageBatchLoader(ds, (img) => new Float32Array(3 * 2 * 2).fill(img.data[0]), 2, { skipErrors: true });
  const b = await load([0, 1, 2, 3]);
  expect(b.shape).toEqual([3, 3, 2, 2]);
  expect(b.indices).toEqual([0, 1, 3]);
  expect(b.failed).toEqual([{ index: 2, error: 'bad.jpg: cannot decode' }]);
  expect(b.data[12 * 2]).toBe(3);
  await expect(imageBatchLoader(ds, () => new Float32Array(12), 2)([2])).rejects.toThrow(/bad.jpg/);
  expect(Array.from(sequentialBatches(0, 5, 2))).toEqual([[0, 1], [2, 3], [4]]);
});

test('fileBatchLoader: worker-pool batch equals per-file preprocessing; a corrupt file is skipped and named', async () => {
  const fs = require('fs');
  const path = require('path');
  const sharp = require('sharp');
  const { ImageProcessor, loadImage, closeSharedPool } = require('@altclip/image');
  const { tmpDir } = require('@altclip/test-utils');
  const { fileBatchLoader } = require('@altclip/data');
  const dir = tmpDir();
  const files: string[] = [];
  for (let i = 0; i < 3; i++) {
    const f = path.join(dir, `${i}.png`);
    const px = Buffer.from(Uint8Array.from({ length: 20 * 12 * 3 }, (_, k) => (k * (i + 3)) & 255));
    await sharp(px, { raw: { width: 20, height: 12, channels: 3 } }).png().toFile(f);
    files.push(f);
  }
  fs.writeFileSync(path.join(dir, 'bad.png'), 'not a png');
  files.splice(1, 0, path.join(dir, 'bad.png'));
  const proc = ImageProcessor.fromConfig({ size: 8, crop_size: 8 });
  try {
    const b = await fileBatchLoader((i: number) => files[i], proc, { skipErrors: true, threads: 2 })([0, 1, 2, 3]);
    expect(b.indices).toEqual([0, 2, 3]);
    expect(b.failed.map((f: any) => f.index)).toEqual([1]);
    expect(b.failed[0].error).toContain('bad.png');
    expect(b.shape).toEqual([3, 3, 8, 8]);
    for (const [row, i] of [0, 2, 3].entries()) {
      const ref = proc.process(await loadImage(files[i]));
      expect(Array.from(b.data.subarray(row * 192, (row + 1) * 192))).toEqual(Array.from(ref));
    }
    await expect(fileBatchLoader((i: number) => files[i], proc, { threads: 2 })([1])).rejects.toThrow(/bad.png/);
  } finally {
    await closeSharedPool();
    fs.rmSync(dir, { recursive: true });
  }
});
