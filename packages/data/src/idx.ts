import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import type { ClassificationDataset, RawImage } from './types';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** An IDX array of unsigned bytes (type 0x08): the only type MNIST-style datasets use. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parses an IDX file (optionally gzipped): magic 0x0000 08 NDIM, NDIM big-endian u32 dims, then the bytes. */
export function parseIdx(buf: Uint8Array, file: string, expectDims?: number): IdxArray {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      // zlib's own message ("unexpected end of file", "incorrect header check") names no file.
      throw new Error(`${file}: corrupt or truncated gzip data (${(e as Error).message}); delete it and download it again`, { cause: e });
    }
  }
  if (buf.length < 4) throw new Error(`${file}: too short for an IDX header`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = dv.getUint32(0, false);
  if (buf[0] !== 0 || buf[1] !== 0) throw new Error(`${file}: not an IDX file (magic 0x${magic.toString(16).padStart(8, '0')})`);
  if (buf[2] !== 0x08) throw new Error(`${file}: IDX element type 0x${buf[2].toString(16)} is not supported (only unsigned bytes, 0x08)`);
  const nd = buf[3];
  if (expectDims !== undefined && nd !== expectDims) {
    throw new Error(`${file}: IDX magic 0x${magic.toString(16).padStart(8, '0')} has ${nd} dims; expected 0x0000080${expectDims}`);
  }
  const head = 4 + 4 * nd;
  if (buf.length < head) throw new Error(`${file}: truncated IDX header`);
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(dv.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length - head < count) {
    throw new Error(`${file}: truncated: dims [${dims.join(', ')}] need ${count} data bytes, found ${buf.length - head}`);
  }
  return { dims, data: buf.subarray(head, head + count) };
}

/** Writes an IDX u8 file (used by tests and to export subsets). */
export function writeIdx(file: string, dims: number[], data: Uint8Array, gzip = file.endsWith('.gz')): void {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  const raw = Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  fs.writeFileSync(file, gzip ? zlib.gzipSync(raw) : raw);
}

export interface IdxDataset extends ClassificationDataset {
  readonly width: number;
  readonly height: number;
}

/**
 * MNIST / Fashion-MNIST style pair of IDX files (images magic 0x00000803 [N,H,W], labels 0x00000801 [N]); plain or
 * .gz. The (small) arrays are held in memory; images come out as 1-channel HWC u8.
 */
export function readIdx(imagesPath: string, labelsPath: string, opts: { classNames?: string[]; name?: string } = {}): IdxDataset {
  const images = parseIdx(fs.readFileSync(imagesPath), imagesPath, 3);
  const lab = parseIdx(fs.readFileSync(labelsPath), labelsPath, 1);
  const [n, h, w] = images.dims;
  if (lab.dims[0] !== n) throw new Error(`${labelsPath}: ${lab.dims[0]} labels but ${imagesPath} holds ${n} images`);
  const classNames = opts.classNames ?? (/fashion/i.test(imagesPath) ? FASHION_MNIST_CLASSES : MNIST_CLASSES);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (lab.data[i] >= classNames.length) throw new Error(`${labelsPath}: label ${lab.data[i]} at item ${i} is not a class index 0..${classNames.length - 1}`);
    labels[i] = lab.data[i];
  }
  const px = h * w;
  return {
    name: opts.name ?? path.basename(imagesPath).replace(/\.gz$/, ''),
    size: n,
    width: w,
    height: h,
    classNames,
    labels,
    getImage: async (i: number): Promise<RawImage> => {
      if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`IDX index ${i} out of range [0, ${n})`);
      return { width: w, height: h, channels: 1, data: images.data.slice(i * px, (i + 1) * px) };
    },
  };
}

/** The folders searched for Fashion-MNIST, in order. */
export function fashionMnistSearchPath(repoRoot?: string): string[] {
  const dirs = [] as string[];
  if (process.env.FASHION_MNIST_DIR) dirs.push(process.env.FASHION_MNIST_DIR);
  dirs.push('/usr/share/datasets/fashion-mnist'); // Debian package dataset-fashion-mnist
  dirs.push(path.join(repoRoot ?? path.resolve(__dirname, '..', '..', '..'), 'datasets', 'fashion-mnist'));
  dirs.push(path.join(process.cwd(), 'datasets', 'fashion-mnist'));
  return dirs;
}

function findPair(dir: string, stem: 'train' | 't10k'): { images: string; labels: string } | null {
  for (const ext of ['.gz', '']) {
    for (const sep of ['-', '.']) {
      const images = path.join(dir, `${stem}-images${sep}idx3-ubyte${ext}`);
      const labels = path.join(dir, `${stem}-labels${sep}idx1-ubyte${ext}`);
      if (fs.existsSync(images) && fs.existsSync(labels)) return { images, labels };
    }
  }
  return null;
}

/**
 * Locates Fashion-MNIST (train-images-idx3-ubyte.gz etc.) in $FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist
 * (apt-get install dataset-fashion-mnist) or datasets/fashion-mnist of the repository. Returns null if absent.
 */
export function findFashionMnist(extraDirs: string[] = []): { dir: string; train: { images: string; labels: string }; test: { images: string; labels: string } } | null {
  for (const dir of [...extraDirs, ...fashionMnistSearchPath()]) {
    const train = findPair(dir, 'train');
    const test = findPair(dir, 't10k');
    if (train && test) return { dir, train, test };
  }
  return null;
}

/** Fashion-MNIST from a folder (or the default locations) as a dataset of the given split. */
export function readFashionMnist(dir: string | undefined, split: 'train' | 'test' = 'test'): IdxDataset {
  const found = findFashionMnist(dir ? [dir] : []);
  if (!found || (dir && found.dir !== dir)) {
    const where = dir ? [dir] : fashionMnistSearchPath();
    throw new Error(`Fashion-MNIST not found in ${where.join(', ')} (expected train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; Debian: apt-get install dataset-fashion-mnist)`);
  }
  const p = split === 'train' ? found.train : found.test;
  return readIdx(p.images, p.labels, { classNames: FASHION_MNIST_CLASSES, name: `fashion-mnist-${split}` });
}
