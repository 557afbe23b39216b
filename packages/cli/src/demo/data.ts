import * as fs from 'fs';
import * as path from 'path';
import { findFashionMnist, IdxDataset, readIdx } from '@altclip/data';
import { atomicWriteFile } from '@altclip/checkpoint';
import { CaptionSpec, caption, Lang, LANGS, parallelCorpus, rng, toneOf, trainingCaption } from './captions';

export interface DemoDataOptions {
  /** Training images used (class-balanced, first N/10 of each class in file order). */
  trainImages: number;
  /** Captions per training image in the stage-0 pairs (each a random training template). */
  captionsPerImage: number;
  /** Stage-2 pairs: training images x one caption per language. */
  stage2Images: number;
  /** Zero-shot test images (class-balanced cut of the test split; 0 = all). */
  testImages: number;
  /** Retrieval: galleries of one test image per (class, tone), each with every held-out caption. */
  galleries: number;
  seed: number;
}

export interface Gallery {
  /** Test-split indices, one per (class, tone) found. */
  indices: number[];
}

export interface DemoData {
  source: string;
  train: IdxDataset;
  test: IdxDataset;
  /** Test-split indices for zero-shot evaluation. */
  testIndices: number[];
  galleries: Gallery[];
  /** image<TAB>caption<TAB>lang files. */
  stage0Pairs: string;
  stage2Pairs: string;
  /** en<TAB>zh (the format `altclip distill` reads). */
  parallel: string;
  counts: Record<string, number>;
}

/** First `perClass` indices of every class, in file order (deterministic; same cut as the bundled subset). */
export function balancedIndices(labels: Int32Array, classes: number, perClass: number): number[] {
  const taken = new Array(classes).fill(0);
  const out: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (taken[labels[i]] < perClass) {
      taken[labels[i]]++;
      out.push(i);
    }
  }
  return out;
}

/**
 * An 8-bit greyscale PGM (binary PNM, P5). The training commands read image files (as a user's data would be), so
 * the demo writes each Fashion-MNIST image once. PGM rather than PNG: nothing to compress when writing, and
 * @altclip/image decodes PNM in plain JS where a PNG goes through sharp, which cost more than the model's forward
 * and backward pass on these 28x28 images (Pillow and libvips read PGM too).
 */
export function encodeGrayPgm(pixels: Uint8Array, width: number, height: number): Buffer {
  if (pixels.length !== width * height) throw new Error(`encodeGrayPgm: ${pixels.length} pixels for a ${width}x${height} image`);
  const head = Buffer.from(`P5\n${width} ${height}\n255\n`, 'ascii');
  return Buffer.concat([head, pixels]);
}

/** Writes split/index.pgm for each index (skipping files already there, so --resume is cheap). */
async function writeImages(ds: IdxDataset, indices: number[], dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (const i of indices) {
    const file = path.join(dir, `${i}.pgm`);
    if (fs.existsSync(file)) continue;
    const img = await ds.getImage(i);
    fs.writeFileSync(file, encodeGrayPgm(img.data, img.width, img.height));
  }
}

export function imagePath(dataDir: string, split: 'train' | 'test', index: number): string {
  return path.join(dataDir, 'images', split, `${index}.pgm`);
}

/** Finds Fashion-MNIST (Debian package, $FASHION_MNIST_DIR or the bundled subset); a folder the user named must hold it. */
export function locateFashionMnist(extraDirs: string[] = []): NonNullable<ReturnType<typeof findFashionMnist>> {
  const found = findFashionMnist(extraDirs);
  // Using another copy silently would hide the mistake.
  if (extraDirs.length && (!found || !extraDirs.includes(found.dir)))
    throw new Error(`Fashion-MNIST not found in ${extraDirs.join(', ')} (--fashion-mnist): expected train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz), t10k-labels-idx1-ubyte(.gz)`);
  if (!found) {
    throw new Error('Fashion-MNIST not found: install it (apt-get install dataset-fashion-mnist), set FASHION_MNIST_DIR, or restore datasets/fashion-mnist/ from the repository');
  }
  return found;
}

/** Locates Fashion-MNIST and opens both splits. */
export function openFashionMnist(extraDirs: string[] = []): { source: string; train: IdxDataset; test: IdxDataset } {
  const found = locateFashionMnist(extraDirs);
  return {
    source: found.dir,
    train: readIdx(found.train.images, found.train.labels, { name: 'fashion-mnist-train' }),
    test: readIdx(found.test.images, found.test.labels, { name: 'fashion-mnist-test' }),
  };
}

function tsv(rows: string[][]): string {
  return rows.map((r) => r.map((c) => c.replace(/[\t\n]/g, ' ')).join('\t')).join('\n') + '\n';
}

/**
 * Builds the demo's files under dataDir: PGM images, stage-0 pairs (EN), stage-2 pairs (EN + ZH), the parallel
 * corpus, and the evaluation index sets. Deterministic for a given seed and options.
 */
export async function prepareDemoData(dataDir: string, spec: CaptionSpec, o: DemoDataOptions, log: (l: string) => void, fmnistDirs: string[] = []): Promise<DemoData> {
  const { source, train, test } = openFashionMnist(fmnistDirs);
  const classes = spec.classes.en.length;
  const trainIdx = balancedIndices(train.labels, classes, Math.ceil(Math.min(o.trainImages, train.size) / classes));
  const stage2Idx = balancedIndices(train.labels, classes, Math.ceil(Math.min(o.stage2Images, train.size) / classes));
  const testIdx = o.testImages > 0 ? balancedIndices(test.labels, classes, Math.ceil(Math.min(o.testImages, test.size) / classes)) : [...Array(test.size).keys()];

  // Tone per image, from its pixels.
  const toneCache = new Map<string, number>();
  const toneOfImage = async (ds: IdxDataset, split: string, i: number) => {
    const k = `${split}:${i}`;
    if (!toneCache.has(k)) toneCache.set(k, toneOf(spec, (await ds.getImage(i)).data));
    return toneCache.get(k)!;
  };

  // Galleries: one test image per (class, tone), drawn in a seeded order from the test images not used elsewhere.
  const r = rng(o.seed + 17);
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < test.size; i++) {
    const key = test.labels[i] * 3 + (await toneOfImage(test, 'test', i));
    if (!buckets.has(key)) buckets.set(key, []);
    buckets.get(key)!.push(i);
  }
  for (const list of buckets.values()) {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [list[i], list[j]] = [list[j], list[i]];
    }
  }
  const galleries: Gallery[] = [];
  for (let g = 0; g < o.galleries; g++) {
    const indices = [...buckets.keys()].sort((a, b) => a - b).map((k) => buckets.get(k)![g]).filter((i) => i !== undefined);
    if (indices.length >= 10) galleries.push({ indices });
  }

  log(`demo data: Fashion-MNIST from ${source} (${train.size} train / ${test.size} test images); writing PGM images and caption files to ${dataDir}`);
  await writeImages(train, [...new Set([...trainIdx, ...stage2Idx])], path.join(dataDir, 'images', 'train'));

  const rand = rng(o.seed);
  const rows0: string[][] = [['image', 'caption', 'lang']];
  for (const i of trainIdx) {
    const tone = await toneOfImage(train, 'train', i);
    for (let k = 0; k < o.captionsPerImage; k++) rows0.push([`images/train/${i}.pgm`, trainingCaption(spec, 'en', train.labels[i], tone, rand), 'en']);
  }
  const rows2: string[][] = [['image', 'caption', 'lang']];
  for (const i of stage2Idx) {
    const tone = await toneOfImage(train, 'train', i);
    for (const lang of LANGS) rows2.push([`images/train/${i}.pgm`, trainingCaption(spec, lang, train.labels[i], tone, rand), lang]);
  }
  const corpus = parallelCorpus(spec);
  const files = { stage0Pairs: path.join(dataDir, 'stage0-pairs.tsv'), stage2Pairs: path.join(dataDir, 'stage2-pairs.tsv'), parallel: path.join(dataDir, 'parallel-en-zh.tsv') };
  await atomicWriteFile(files.stage0Pairs, [Buffer.from(tsv(rows0))]);
  await atomicWriteFile(files.stage2Pairs, [Buffer.from(tsv(rows2))]);
  await atomicWriteFile(files.parallel, [Buffer.from(tsv(corpus.map((p) => [p.en, p.zh])))]);
  const counts = {
    trainImages: trainIdx.length,
    stage0Pairs: rows0.length - 1,
    stage2Pairs: rows2.length - 1,
    parallelPairs: corpus.length,
    testImages: testIdx.length,
    galleries: galleries.length,
    galleryImages: galleries.reduce((n, g) => n + g.indices.length, 0),
  };
  log(`demo data: ${counts.stage0Pairs} EN pairs (stage 0), ${counts.parallelPairs} EN-ZH sentence pairs (stage 1), ${counts.stage2Pairs} EN+ZH pairs (stage 2); evaluation on ${counts.testImages} test images and ${counts.galleries} retrieval galleries of ${galleries[0]?.indices.length ?? 0}`);
  return { source, train, test, testIndices: testIdx, galleries, ...files, counts };
}

/** Held-out captions of one gallery image: every held-out template with its tone + class phrase. */
export async function galleryCaptions(spec: CaptionSpec, data: DemoData, lang: Lang, index: number): Promise<string[]> {
  const tone = toneOf(spec, (await data.test.getImage(index)).data);
  return spec.heldOut.map((t) => caption(spec, lang, t, data.test.labels[index], tone));
}
