import * as fs from 'fs';
import * as path from 'path';
import type { ClassificationDataset, RawImage } from './types';

/** CIFAR-10 binary record: 1 label byte + 1024 R + 1024 G + 1024 B (each plane 32x32 row-major), no header. */
export const CIFAR_RECORD_BYTES = 3073;
export const CIFAR_SIDE = 32;
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR10_TEST_FILES = ['test_batch.bin'];

export class CifarFormatError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly record: number,
  ) {
    super(message);
    this.name = 'CifarFormatError';
  }
}

export interface Cifar10Options {
  split?: 'train' | 'test';
  /** Called for non-fatal findings, e.g. fewer than the 5 training batches present. */
  onWarning?: (msg: string) => void;
}

export interface Cifar10Dataset extends ClassificationDataset {
  /** The .bin files read, in order. */
  readonly files: string[];
  /** The raw 3073-byte record i (label byte first). */
  readRecord(i: number): Uint8Array;
  /** Streams records [start, end) in large sequential reads: the fast path for a full pass. */
  records(start?: number, end?: number): Generator<{ index: number; label: number; image: RawImage }>;
  close(): void;
}

/** Planar RGB (CIFAR record body) -> interleaved HWC u8. */
export function cifarRecordToHWC(record: Uint8Array, offset = 1): Uint8Array {
  const n = CIFAR_SIDE * CIFAR_SIDE;
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    out[p * 3] = record[offset + p];
    out[p * 3 + 1] = record[offset + n + p];
    out[p * 3 + 2] = record[offset + 2 * n + p];
  }
  return out;
}

/** Finds the folder holding the .bin files: DIR itself or DIR/cifar-10-batches-bin (the archive's prefix). */
function resolveCifarDir(dir: string): string {
  const nested = path.join(dir, 'cifar-10-batches-bin');
  if (!fs.existsSync(path.join(dir, 'test_batch.bin')) && !fs.existsSync(path.join(dir, 'data_batch_1.bin')) && fs.existsSync(nested)) return nested;
  return dir;
}

/** batches.meta.txt: one class name per line; empty lines dropped (as tensorflow_datasets does). */
export function readCifarClassNames(dir: string): string[] {
  const meta = path.join(dir, 'batches.meta.txt');
  if (!fs.existsSync(meta)) return [...CIFAR10_CLASSES];
  const names = fs
    .readFileSync(meta, 'utf8')
    .split('\n')
    .map((s) => s.replace(/\r$/, '').trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new Error(`${meta}: no class names`);
  return names;
}

/** Checks the size and every label byte of one .bin file; returns its labels. Reads in large chunks. */
function scanLabels(file: string, numClasses: number): Uint8Array {
  const size = fs.statSync(file).size;
  if (size === 0) throw new CifarFormatError(`${file}: empty file (expected records of ${CIFAR_RECORD_BYTES} bytes)`, file, 0);
  const n = Math.floor(size / CIFAR_RECORD_BYTES);
  const rem = size - n * CIFAR_RECORD_BYTES;
  if (rem !== 0) {
    throw new CifarFormatError(
      `${file}: truncated or corrupt: ${size} bytes is not a multiple of the ${CIFAR_RECORD_BYTES}-byte record; record ${n} (0-based) has only ${rem} bytes`,
      file,
      n,
    );
  }
  const labels = new Uint8Array(n);
  const fd = fs.openSync(file, 'r');
  try {
    const chunkRecords = 1024;
    const buf = Buffer.allocUnsafe(chunkRecords * CIFAR_RECORD_BYTES);
    for (let r0 = 0; r0 < n; r0 += chunkRecords) {
      const count = Math.min(chunkRecords, n - r0);
      const got = fs.readSync(fd, buf, 0, count * CIFAR_RECORD_BYTES, r0 * CIFAR_RECORD_BYTES);
      if (got !== count * CIFAR_RECORD_BYTES) throw new CifarFormatError(`${file}: short read at record ${r0}`, file, r0);
      for (let k = 0; k < count; k++) {
        const label = buf[k * CIFAR_RECORD_BYTES];
        if (label >= numClasses) {
          throw new CifarFormatError(
            `${file}: corrupt record ${r0 + k} (0-based, byte offset ${(r0 + k) * CIFAR_RECORD_BYTES}): label byte ${label} is not a class index 0..${numClasses - 1}`,
            file,
            r0 + k,
          );
        }
        labels[r0 + k] = label;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return labels;
}

/**
 * Opens CIFAR-10 in the official binary layout: a folder with data_batch_1..5.bin / test_batch.bin and
 * batches.meta.txt (or the archive's cifar-10-batches-bin/ below it), or a single .bin file. Every file is checked
 * up front (size and label bytes); images are read on demand, one record at a time.
 */
export function readCifar10(dirOrFile: string, opts: Cifar10Options = {}): Cifar10Dataset {
  const split = opts.split ?? 'test';
  if (split !== 'train' && split !== 'test') throw new Error(`readCifar10: split must be 'train' or 'test', got '${split}'`);
  if (!fs.existsSync(dirOrFile)) {
    throw new Error(`CIFAR-10 data not found: ${dirOrFile} (pass the folder holding data_batch_1..5.bin / test_batch.bin, or fetch it with downloadCifar10(dir) / 'altclip eval zeroshot --download')`);
  }
  let dir: string;
  let files: string[];
  if (fs.statSync(dirOrFile).isFile()) {
    dir = path.dirname(dirOrFile);
    files = [dirOrFile];
  } else {
    dir = resolveCifarDir(dirOrFile);
    const wanted = split === 'train' ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES;
    files = wanted.map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f));
    if (files.length === 0) throw new Error(`${dir}: no CIFAR-10 ${split} files (expected ${wanted.join(', ')})`);
    if (files.length < wanted.length) {
      const missing = wanted.filter((f) => !fs.existsSync(path.join(dir, f)));
      opts.onWarning?.(`${dir}: CIFAR-10 ${split} split is partial, missing ${missing.join(', ')}`);
    }
  }
  const classNames = readCifarClassNames(dir);
  const perFile = files.map((f) => scanLabels(f, classNames.length));
  const starts: number[] = [];
  let total = 0;
  for (const l of perFile) {
    starts.push(total);
    total += l.length;
  }
  const labels = new Int32Array(total);
  perFile.forEach((l, k) => labels.set(l, starts[k]));

  const fds: (number | null)[] = files.map(() => null);
  const fdOf = (k: number) => (fds[k] ??= fs.openSync(files[k], 'r'));
  const locate = (i: number): [number, number] => {
    if (!Number.isInteger(i) || i < 0 || i >= total) throw new RangeError(`CIFAR-10 index ${i} out of range [0, ${total})`);
    let k = files.length - 1;
    while (starts[k] > i) k--;
    return [k, i - starts[k]];
  };
  const readRecord = (i: number): Uint8Array => {
    const [k, r] = locate(i);
    const buf = new Uint8Array(CIFAR_RECORD_BYTES);
    const got = fs.readSync(fdOf(k), buf, 0, CIFAR_RECORD_BYTES, r * CIFAR_RECORD_BYTES);
    if (got !== CIFAR_RECORD_BYTES) throw new CifarFormatError(`${files[k]}: record ${r} is truncated (file changed since it was opened?)`, files[k], r);
    return buf;
  };
  const toImage = (rec: Uint8Array, offset: number): RawImage => ({ width: CIFAR_SIDE, height: CIFAR_SIDE, channels: 3, data: cifarRecordToHWC(rec, offset) });

  function* records(start = 0, end = total) {
    end = Math.min(end, total);
    const chunk = 256;
    const buf = Buffer.allocUnsafe(chunk * CIFAR_RECORD_BYTES);
    let i = start;
    while (i < end) {
      const [k, r] = locate(i);
      const count = Math.min(chunk, end - i, perFile[k].length - r);
      fs.readSync(fdOf(k), buf, 0, count * CIFAR_RECORD_BYTES, r * CIFAR_RECORD_BYTES);
      for (let j = 0; j < count; j++) yield { index: i + j, label: labels[i + j], image: toImage(buf, j * CIFAR_RECORD_BYTES + 1) };
      i += count;
    }
  }

  return {
    name: `cifar10-${split}`,
    size: total,
    classNames,
    labels,
    files,
    readRecord,
    getImage: async (i) => toImage(readRecord(i), 1),
    records,
    close: () => {
      fds.forEach((fd, k) => {
        if (fd !== null) fs.closeSync(fd);
        fds[k] = null;
      });
    },
  };
}
