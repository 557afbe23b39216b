import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { readCifar10, CifarFormatError, CIFAR_RECORD_BYTES } from '@altclip/data';

const DIR = fixture('cifar10_bin');
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'));
const fileNames = Object.keys(expected.files) as string[];

describe('readCifar10 vs cifar10_bin/expected.json', () => {
  test.each(fileNames)('%s: labels, pixels, channel sums, record sha256', async (name) => {
    const exp = expected.files[name];
    const ds = readCifar10(path.join(DIR, name));
    try {
      expect(ds.size).toBe(exp.n_records);
      expect(Array.from(ds.labels)).toEqual(exp.labels);
      expect(ds.classNames).toEqual(expected.class_names);
      for (const rec of exp.records) {
        const raw = ds.readRecord(rec.index);
        expect(crypto.createHash('sha256').update(raw).digest('hex')).toBe(rec.record_sha256);
        const img = await ds.getImage(rec.index);
        expect([img.width, img.height, img.channels]).toEqual([32, 32, 3]);
        for (const [r, c, rgb] of rec.pixels_rc_rgb) {
          const o = (r * 32 + c) * 3;
          expect([img.data[o], img.data[o + 1], img.data[o + 2]]).toEqual(rgb);
        }
        const sums = [0, 0, 0];
        for (let p = 0; p < 1024; p++) for (let ch = 0; ch < 3; ch++) sums[ch] += img.data[p * 3 + ch];
        expect(sums).toEqual(rec.channel_sums_rgb);
        expect(ds.classNames[ds.labels[rec.index]]).toBe(rec.label_name);
      }
      // The streaming pass yields the same images as random access.
      let n = 0;
      for (const item of ds.records()) {
        const again = await ds.getImage(item.index);
        expect(Buffer.compare(Buffer.from(item.image.data), Buffer.from(again.data))).toBe(0);
        expect(item.label).toBe(exp.labels[item.index]);
        n++;
      }
      expect(n).toBe(exp.n_records);
    } finally {
      ds.close();
    }
  });

  test('folder + split picks data_batch_*.bin for train and test_batch.bin for test', () => {
    const warnings: string[] = [];
    const trainFiles = fileNames.filter((f) => f.startsWith('data_batch_'));
    if (trainFiles.length === 0 || !fileNames.includes('test_batch.bin')) {
      if (trainFiles.length === 0) expect(() => readCifar10(DIR, { split: 'train' })).toThrow(/no CIFAR-10 train files/);
      return; // this fixture set lacks one of the splits
    }
    const train = readCifar10(DIR, { split: 'train', onWarning: (w) => warnings.push(w) });
    const test = readCifar10(DIR, { split: 'test' });
    expect(train.files.map((f) => path.basename(f))).toEqual(trainFiles);
    expect(train.size).toBe(trainFiles.reduce((a, f) => a + expected.files[f].n_records, 0));
    expect(test.size).toBe(expected.files['test_batch.bin'].n_records);
    if (trainFiles.length < 5) expect(warnings.join('\n')).toMatch(/partial/);
    train.close();
    test.close();
  });

  test('a truncated file is an error naming the file and the record', () => {
    const dir = tmpDir();
    const src = fs.readFileSync(path.join(DIR, 'test_batch.bin'));
    const n = src.length / CIFAR_RECORD_BYTES;
    const bad = path.join(dir, 'test_batch.bin');
    fs.writeFileSync(bad, src.subarray(0, src.length - 100));
    let err: unknown;
    try {
      readCifar10(dir, { split: 'test' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CifarFormatError);
    expect((err as Error).message).toContain(bad);
    expect((err as Error).message).toContain(`record ${n - 1}`);
    expect((err as CifarFormatError).record).toBe(n - 1);
    fs.rmSync(dir, { recursive: true });
  });

  test('a corrupt label byte is an error naming the file and the record', () => {
    const dir = tmpDir();
    const src = Buffer.from(fs.readFileSync(path.join(DIR, 'data_batch_1.bin')));
    const k = Math.min(3, src.length / CIFAR_RECORD_BYTES - 1);
    src[k * CIFAR_RECORD_BYTES] = 200;
    const bad = path.join(dir, 'data_batch_1.bin');
    fs.writeFileSync(bad, src);
    expect(() => readCifar10(bad)).toThrow(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*record ${k}\\b`));
    fs.rmSync(dir, { recursive: true });
  });

  test('missing data: clear message', () => {
    expect(() => readCifar10('/nonexistent/cifar')).toThrow(/not found.*data_batch/);
  });
});
