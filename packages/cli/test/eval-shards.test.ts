/**
 * `altclip eval zeroshot|retrieval` on WebDataset shards written by `altclip shards` from real data (the CIFAR-10
 * fixture's images as PNG): the result equals the evaluation of the same images read the existing way (the CIFAR-10
 * reader, an image folder, a pairs file), and unusable samples are skipped, counted and named.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir, maxAbsDiff } from '@altclip/test-utils';
import { setupBackend } from '@altclip/backend';
import { ClassificationDataset, readCifar10, readRetrievalDataset, TAR_END, tarMember, webDatasetEvalSource } from '@altclip/data';
import { closeSharedPool, loadImage } from '@altclip/image';
import { evaluateRetrieval, evaluateZeroShot, CIFAR10_CLASSNAMES_EN, CIFAR10_TEMPLATES_EN } from '@altclip/eval';
import { loadModelBundle, ModelBundle } from '@altclip/models';
import { makeTinyModelDir } from '../../eval/test/tiny-model';
import { runCli } from './run-cli';

const CIFAR = fixture('cifar10_bin');
const SPLIT = fs.existsSync(path.join(CIFAR, 'data_batch_1.bin')) ? 'train' : 'test';
let work: string;
let modelDir: string;
let bundle: ModelBundle;
/** The fixture's images as PNG files: class folders (for `altclip shards`) and the CIFAR index of each. */
let classDir: string;
let pngs: { file: string; index: number; label: number }[];

beforeAll(async () => {
  await setupBackend({ backend: 'auto' });
  work = tmpDir('altclip-eval-shards-');
  modelDir = await makeTinyModelDir(path.join(work, 'model'));
  bundle = await loadModelBundle(modelDir);
  classDir = path.join(work, 'classes');
  // Every class gets a folder (empty ones too), so the .cls `altclip shards` writes (the folder's sorted index) is the
  // CIFAR label: the class names are already in alphabetical order.
  for (const c of CIFAR10_CLASSNAMES_EN) fs.mkdirSync(path.join(classDir, c), { recursive: true });
  const ds = readCifar10(CIFAR, { split: SPLIT });
  const sharp = require('sharp');
  pngs = [];
  for (let i = 0; i < ds.size; i++) {
    const img = await ds.getImage(i);
    const file = path.join(classDir, CIFAR10_CLASSNAMES_EN[ds.labels[i]], `${String(i).padStart(3, '0')}.png`);
    await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(file);
    pngs.push({ file, index: i, label: ds.labels[i] });
  }
  ds.close();
});
afterAll(async () => {
  await closeSharedPool();
  bundle.dispose();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Runs the CLI in-process; returns stdout and stderr. */
const cli = runCli;

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

/** `altclip eval retrieval ... --out <name>.json` with the tiny model; the results file. */
async function retrieval(name: string, args: string[]) {
  const out = path.join(work, `${name}.json`);
  await cli(['eval', 'retrieval', '--model', modelDir, '--batch-size', '3', '--out', out, ...args]);
  return readJson(out);
}

/** A shard of hand-made samples: [key, extension, bytes] members in order. */
function writeShard(file: string, members: [string, string, Buffer][]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([...members.flatMap(([k, e, b]) => tarMember(`${k}.${e}`, b)), TAR_END]));
}

test('eval zeroshot on shards from `altclip shards`: the CIFAR-10 reader gives the same logits and the same metrics', async () => {
  const shardDir = path.join(work, 'zs-shards');
  await cli(['shards', '--from', classDir, '--out', shardDir, '--per-shard', '5']);
  const nShards = Math.ceil(pngs.length / 5);
  const spec = path.join(shardDir, `{00000..${String(nShards - 1).padStart(5, '0')}}.tar`);
  const onShards = path.join(work, 'zs-shards.json');
  const onCifar = path.join(work, 'zs-cifar.json');
  // Class names from the classnames.txt `altclip shards` wrote; the templates named as CIFAR-10's built-in ones.
  const r = await cli(['eval', 'zeroshot', '--model', modelDir, '--data', spec, '--templates', 'cifar10-en', '--batch-size', '7', '--out', onShards]);
  await cli(['eval', 'zeroshot', '--model', modelDir, '--dataset', 'cifar10', '--data', CIFAR, '--split', SPLIT, '--batch-size', '7', '--out', onCifar]);
  const a = readJson(onShards);
  const b = readJson(onCifar);
  expect(a.dataset).toBe('webdataset');
  expect(a.settings).toMatchObject({ n_images: pngs.length, skipped_images: 0, classnames: CIFAR10_CLASSNAMES_EN, templates: CIFAR10_TEMPLATES_EN, split: null });
  expect(a.metrics).toEqual(b.metrics);
  expect(r.out).toContain(`${nShards} shard(s), ${pngs.length} images`);

  // Row by row: the shards hold the images class by class; each row's logits are those of its CIFAR image.
  const src = await webDatasetEvalSource(spec, { captions: false, labelKey: 'cls', classes: 10 }, (s) => s.label!);
  const opts = { ...bundle, classnames: CIFAR10_CLASSNAMES_EN, templates: CIFAR10_TEMPLATES_EN, batchSize: 4, keepLogits: true };
  const shardRun = await evaluateZeroShot({ ...opts, dataset: src });
  const ds = readCifar10(CIFAR, { split: SPLIT });
  const ref = await evaluateZeroShot({ ...opts, dataset: ds });
  ds.close();
  const order = [...pngs].sort((x, y) => x.label - y.label || x.index - y.index); // altclip shards: class folders, then file names
  expect(Array.from(shardRun.labels!)).toEqual(order.map((p) => p.label));
  const expected = order.flatMap((p) => Array.from(ref.logits!.subarray(p.index * 10, (p.index + 1) * 10)));
  expect(maxAbsDiff(shardRun.logits!, expected)).toBeLessThan(1e-4);
  expect(src.report).toMatchObject({ rows: pngs.length, kept: pngs.length, skipped: 0 });
  // A window of the stream (entered mid-shard, ended mid-shard): the same rows of the CIFAR reference.
  const part = await evaluateZeroShot({ ...opts, dataset: src, start: 6, limit: 9 });
  expect(part.n).toBe(9);
  expect(maxAbsDiff(part.logits!, expected.slice(60, 150))).toBeLessThan(1e-4);
}, 120000);

test('eval retrieval on shards from a pairs file: the embeddings, captions and metrics of the pairs file', async () => {
  const n = Math.min(pngs.length, 12);
  const pairs = path.join(work, 'pairs.tsv');
  fs.writeFileSync(pairs, `image\tcaption\n${pngs.slice(0, n).map((p) => `${p.file}\ta photo of a ${CIFAR10_CLASSNAMES_EN[p.label]}, number ${p.index}`).join('\n')}\n`);
  const shardDir = path.join(work, 'ret-shards');
  await cli(['shards', '--from', pairs, '--out', shardDir, '--per-shard', '4']);
  const spec = path.join(shardDir, `{00000..${String(Math.ceil(n / 4) - 1).padStart(5, '0')}}.tar`);
  const ref = await retrieval('ret-pairs', ['--data', pairs]);
  const got = await retrieval('ret-shards', ['--data', spec]);
  expect(ref.settings).toMatchObject({ n_images: n, n_texts: n });
  expect(got.metrics).toEqual(ref.metrics);
  expect(got.settings).toMatchObject({ n_images: n, n_texts: n, skipped_images: 0 });
  // Row by row through the library: the same captions, in the same order, and the same embeddings.
  const opts = { ...bundle, batchSize: 5, keepEmbeddings: true };
  const a = await evaluateRetrieval({ ...opts, dataset: await webDatasetEvalSource(spec, {}, (s) => [s.caption!]) });
  const b = await evaluateRetrieval({ ...opts, dataset: await readRetrievalDataset(pairs) });
  expect(a.embeddings!.texts).toEqual(b.embeddings!.texts);
  expect(Array.from(a.embeddings!.textToImage)).toEqual(Array.from(b.embeddings!.textToImage));
  expect(maxAbsDiff(a.embeddings!.image, b.embeddings!.image)).toBeLessThan(1e-5);
  expect(maxAbsDiff(a.embeddings!.text, b.embeddings!.text)).toBeLessThan(1e-6);
}, 120000);

test('eval retrieval --caption-lang zh and --caption-key json:<field> read those members (a sample without one is skipped, named)', async () => {
  const some = pngs.slice(0, 8);
  // (English words in the .zh.txt member: the tiny tokenizer fixture knows few Chinese pieces, so most would read alike.)
  const zh = (k: number) => `the ${CIFAR10_CLASSNAMES_EN[some[k].label]} picture with number ${some[k].index}`;
  const shard = path.join(work, 'lang', '00000.tar');
  writeShard(shard, some.flatMap((p, k): [string, string, Buffer][] => [
    [`k${k}`, 'png', fs.readFileSync(p.file)],
    [`k${k}`, 'txt', Buffer.from(`other text ${k}`)],
    ...(k === 5 ? [] : [[`k${k}`, 'zh.txt', Buffer.from(zh(k))] as [string, string, Buffer]]),
    [`k${k}`, 'json', Buffer.from(JSON.stringify({ meta: k === 6 ? {} : { cap: zh(k) } }))],
  ]));
  const pairsWithout = (name: string, skip: number) => {
    const f = path.join(work, name);
    fs.writeFileSync(f, `image\tcaption\n${some.flatMap((p, k) => (k === skip ? [] : [`${p.file}\t${zh(k)}`])).join('\n')}\n`);
    return f;
  };
  const cases: [string[], number, RegExp][] = [
    [['--caption-lang', 'zh'], 5, /00000\.tar sample 5 \(key k5\): missing caption \(no \.zh\.txt member\)/],
    [['--caption-key', 'json:meta.cap', '--dataset-type', 'webdataset'], 6, /00000\.tar sample 6 \(key k6\): missing caption \(\.json has no field 'meta\.cap'\)/],
  ];
  for (const [flags, skipped, named] of cases) {
    const out = path.join(work, `lang-${skipped}.json`);
    const r = await cli(['eval', 'retrieval', '--model', modelDir, '--batch-size', '3', '--data', shard, ...flags, '--out', out]);
    expect(r.err).toMatch(named);
    expect(readJson(out).settings).toMatchObject({ n_images: 7, n_texts: 7, skipped_images: 1 });
    expect(readJson(out).metrics).toEqual((await retrieval(`lang-ref-${skipped}`, ['--data', pairsWithout(`lang-${skipped}.tsv`, skipped)])).metrics);
  }
  // The captions read are the .zh.txt ones, with the embeddings of the same captions read from a pairs file.
  const opts = { ...bundle, batchSize: 3, keepEmbeddings: true };
  const a = await evaluateRetrieval({ ...opts, dataset: await webDatasetEvalSource(shard, { captionLang: 'zh' }, (s) => [s.caption!]) });
  const b = await evaluateRetrieval({ ...opts, dataset: await readRetrievalDataset(pairsWithout('lang-lib.tsv', 5)) });
  expect(a.embeddings!.texts).toEqual(some.flatMap((_, k) => (k === 5 ? [] : [zh(k)])));
  expect(maxAbsDiff(a.embeddings!.text, b.embeddings!.text)).toBeLessThan(1e-6);
  expect(maxAbsDiff(a.embeddings!.image, b.embeddings!.image)).toBeLessThan(1e-5);
}, 120000);

test('corrupt images, missing classes and captions are skipped, counted and named; the rest scores as the same images read as files', async () => {
  const png = (k: number) => fs.readFileSync(pngs[k].file);
  const shard = path.join(work, 'bad', 'a.tar');
  writeShard(shard, [
    ['s0', 'png', png(0)], ['s0', 'cls', Buffer.from(String(pngs[0].label))], ['s0', 'txt', Buffer.from('first caption')],
    ['s1', 'png', Buffer.from('not an image at all')], ['s1', 'cls', Buffer.from('1')], ['s1', 'txt', Buffer.from('corrupt')],
    ['s2', 'png', png(2)], // neither class nor caption
    ['s3', 'png', png(3)], ['s3', 'cls', Buffer.from('42')], ['s3', 'txt', Buffer.from('third caption')], ['s3', 'json', Buffer.from(JSON.stringify({ label: pngs[3].label }))],
    ['s4', 'png', png(4)], ['s4', 'cls', Buffer.from(String(pngs[4].label))], ['s4', 'txt', Buffer.from('fourth caption')],
  ]);
  // Zero-shot: s1 (corrupt image), s2 (no class), s3 (class 42 of 10) skipped; s0 and s4 score as in an image folder.
  const zs = path.join(work, 'bad-zs.json');
  const { err } = await cli(['eval', 'zeroshot', '--model', modelDir, '--data', shard, '--classnames', writeClassnames(), '--templates', 'cifar10-en', '--out', zs]);
  expect(err).toMatch(/5 rows, 2 kept, 3 skipped/);
  expect(err).toMatch(/a\.tar sample 1 \(key s1\)/);
  expect(err).toMatch(/a\.tar sample 2 \(key s2\): missing class/);
  expect(err).toMatch(/a\.tar sample 3 \(key s3\): class 42, 10 class names/);
  const got = readJson(zs);
  expect(got.settings).toMatchObject({ n_images: 2, skipped_images: 3 });
  // --label-key json:label: s3's class comes from its .json (valid there); s0 and s4 have no .json.
  const byJson = await cli(['eval', 'zeroshot', '--model', modelDir, '--data', shard, '--label-key', 'json:label', '--classnames', writeClassnames(), '--templates', 'cifar10-en']);
  expect(byJson.err).toMatch(/5 rows, 1 kept, 4 skipped/);
  expect(byJson.err).toMatch(/a\.tar sample 0 \(key s0\): missing class \(no \.json member\)/);
  // The two good images read as files (the image-folder path), against the same classifier.
  const files = [0, 4].map((k) => pngs[k].file);
  const ref: ClassificationDataset = {
    name: 'two files', size: 2, classNames: CIFAR10_CLASSNAMES_EN, labels: Int32Array.from([0, 4].map((k) => pngs[k].label)),
    getImage: (i) => loadImage(files[i]), imagePath: (i) => files[i],
  };
  const src = await webDatasetEvalSource(shard, { captions: false, labelKey: 'cls', classes: 10 }, (s) => s.label!);
  const opts = { ...bundle, classnames: CIFAR10_CLASSNAMES_EN, templates: CIFAR10_TEMPLATES_EN, keepLogits: true };
  const a = await evaluateZeroShot({ ...opts, dataset: src });
  const b = await evaluateZeroShot({ ...opts, dataset: ref });
  expect(Array.from(a.labels!)).toEqual([0, 4].map((k) => pngs[k].label));
  expect(maxAbsDiff(a.logits!, b.logits!)).toBeLessThan(1e-5);
  expect(got.metrics).toEqual({ acc1: a.metrics.acc1, acc5: a.metrics.acc5, mean_per_class_recall: a.metrics.meanPerClassRecall });

  // Retrieval: s1 (corrupt image) and s2 (no caption) skipped; s3 has a caption, so it counts there.
  const ret = path.join(work, 'bad-ret.json');
  const r = await cli(['eval', 'retrieval', '--model', modelDir, '--batch-size', '3', '--data', shard, '--out', ret]);
  expect(r.err).toMatch(/5 rows, 3 kept, 2 skipped/);
  expect(r.err).toMatch(/a\.tar sample 2 \(key s2\): missing caption \(no \.txt member\)/);
  const pairs = path.join(work, 'good-pairs.tsv');
  fs.writeFileSync(pairs, `image\tcaption\n${pngs[0].file}\tfirst caption\n${pngs[3].file}\tthird caption\n${pngs[4].file}\tfourth caption\n`);
  expect(readJson(ret).metrics).toEqual((await retrieval('good-ret', ['--data', pairs])).metrics);
  expect(readJson(ret).settings).toMatchObject({ n_images: 3, n_texts: 3, skipped_images: 2 });
  const lib = { ...bundle, batchSize: 5, keepEmbeddings: true };
  const ra = await evaluateRetrieval({ ...lib, dataset: await webDatasetEvalSource(shard, {}, (x) => [x.caption!]) });
  const rb = await evaluateRetrieval({ ...lib, dataset: await readRetrievalDataset(pairs) });
  expect(ra.embeddings!.texts).toEqual(['first caption', 'third caption', 'fourth caption']);
  expect(ra.skipped.map((x) => x.index)).toEqual([2, 1]); // positions: s2 (no caption) while parsing, s1 (corrupt) after decoding
  expect(maxAbsDiff(ra.embeddings!.image, rb.embeddings!.image)).toBeLessThan(1e-5);
  expect(maxAbsDiff(ra.embeddings!.text, rb.embeddings!.text)).toBeLessThan(1e-6);
}, 120000);

test('a shard list that matches nothing is an error naming it, before the model is opened', async () => {
  const spec = path.join(work, 'nowhere', '{00000..00003}.tar');
  await expect(cli(['eval', 'zeroshot', '--model', path.join(work, 'no-model'), '--data', spec, '--classnames', writeClassnames()])).rejects.toThrow(`shard list '${spec}' matches no file`);
  await expect(cli(['eval', 'retrieval', '--model', path.join(work, 'no-model'), '--data', spec])).rejects.toThrow(`shard list '${spec}' matches no file`);
});

/** CIFAR-10's class names as a --classnames file. */
function writeClassnames(): string {
  const f = path.join(work, 'classnames.json');
  fs.writeFileSync(f, JSON.stringify(CIFAR10_CLASSNAMES_EN));
  return f;
}
