#!/usr/bin/env node
/**
 * Cuts the class-balanced Fashion-MNIST subset shipped in datasets/fashion-mnist/ (used by `altclip demo` when the
 * Debian package dataset-fashion-mnist is not installed).
 *
 *   node scripts/prepare-fashion-mnist-subset.js [SOURCE_DIR] [--train 600] [--test 200]
 *
 * SOURCE_DIR (default /usr/share/datasets/fashion-mnist) holds the four official IDX .gz files. For each split the
 * script keeps the first K images of every class in file order (K = --train / --test per class), in their original
 * order, and writes them as IDX .gz with the official file names. Deterministic: same input, same bytes (zlib's gzip
 * writes no timestamp). Needs `npx tsc -b packages/data` first (it uses the data package's IDX reader and writer).
 */
const path = require('path');
const fs = require('fs');

function dataPackage() {
  const dist = path.join(__dirname, '..', 'packages', 'data', 'dist');
  const api = require(dist);
  return api.readIdx ? api : require(path.join(dist, 'idx.js'));
}

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function cut(data, src, stem, perClass, outDir) {
  const ds = data.readIdx(path.join(src, `${stem}-images-idx3-ubyte.gz`), path.join(src, `${stem}-labels-idx1-ubyte.gz`));
  const taken = new Array(ds.classNames.length).fill(0);
  const keep = [];
  for (let i = 0; i < ds.size; i++) {
    if (taken[ds.labels[i]] < perClass) {
      taken[ds.labels[i]]++;
      keep.push(i);
    }
  }
  const px = ds.width * ds.height;
  const images = new Uint8Array(keep.length * px);
  const labels = new Uint8Array(keep.length);
  for (const [j, i] of keep.entries()) {
    images.set((await ds.getImage(i)).data, j * px);
    labels[j] = ds.labels[i];
  }
  const write = (file, dims, bytes) => data.writeIdx(path.join(outDir, file), dims, bytes);
  write(`${stem}-images-idx3-ubyte.gz`, [keep.length, ds.height, ds.width], images);
  write(`${stem}-labels-idx1-ubyte.gz`, [keep.length], labels);
  console.log(`${stem}: kept ${keep.length} of ${ds.size} images (${perClass} per class; last kept source index ${keep[keep.length - 1]})`);
}

async function main() {
  const src = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : '/usr/share/datasets/fashion-mnist';
  const outDir = path.join(__dirname, '..', 'datasets', 'fashion-mnist');
  fs.mkdirSync(outDir, { recursive: true });
  const data = dataPackage();
  await cut(data, src, 'train', arg('--train', 600), outDir);
  await cut(data, src, 't10k', arg('--test', 200), outDir);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
