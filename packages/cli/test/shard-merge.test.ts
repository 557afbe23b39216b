/**
 * `eval zeroshot|retrieval` and `embed` with `--shard i/N`, then `altclip merge PARTS --out FILE`: the merged file is
 * what one unsharded run writes (same metrics, counts and settings; embeddings and their files the same bytes),
 * because each shard computes whole batches of the unsharded run. Checked on the tiny model and the CIFAR-10 fixture;
 * and merge refuses incomplete, duplicate, mixed or foreign sets, naming the file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { setupBackend } from '@altclip/backend';
import { readCifar10, readRetrievalDataset } from '@altclip/data';
import { closeSharedPool } from '@altclip/image';
import { evaluateRetrieval, evaluateZeroShot, CIFAR10_CLASSNAMES_EN, CIFAR10_TEMPLATES_EN } from '@altclip/eval';
import { loadModelBundle, ModelBundle } from '@altclip/models';
import { makeTinyModelDir } from '../../eval/test/tiny-model';
import { cifarPngs, runCli } from './run-cli';
import { concatRows, readPart } from '../src/parts';

const CIFAR = fixture('cifar10_bin');
const SPLIT = fs.existsSync(path.join(CIFAR, 'data_batch_1.bin')) ? 'train' : 'test';
let work: string;
let modelDir: string;
let bundle: ModelBundle;
let pngs: string[];
let labels: number[];

beforeAll(async () => {
  await setupBackend({ backend: 'auto' });
  work = tmpDir('altclip-shard-merge-');
  modelDir = await makeTinyModelDir(path.join(work, 'model'));
  bundle = await loadModelBundle(modelDir);
  ({ files: pngs, labels } = await cifarPngs(CIFAR, SPLIT, work));
});
afterAll(async () => {
  await closeSharedPool();
  bundle.dispose();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Runs the CLI in-process; returns stdout. */
const cli = async (args: string[]): Promise<string> => (await runCli(args)).out;

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));
const at = (name: string) => path.join(work, name);
const parts2 = (out: string) => [0, 1].map((i) => `${out}.shard-000${i}-of-0002`);
/** A results JSON without its timings (which differ from run to run). */
const untimed = (r: { settings: Record<string, unknown> }) => ({ ...r, settings: { ...r.settings, seconds: 0, images_per_second: 0, texts_per_second: 0 } });
const bitsEqual = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('eval zeroshot --shard i/2 + merge', () => {
  const zs = (out: string, extra: string[] = [], templates = 'cifar10-en') =>
    cli(['eval', 'zeroshot', '--model', modelDir, '--dataset', 'cifar10', '--data', CIFAR, '--split', SPLIT, '--templates', templates, '--batch-size', '5', '--out', out, ...extra]);
  const out = () => at('zs.json');

  beforeAll(async () => {
    await zs(at('zs-whole.json'));
    for (const i of [0, 1]) expect(await zs(out(), ['--shard', `${i}/2`])).toContain(`part written to ${parts2(out())[i]}`);
  }, 120000);

  test('the merged results JSON is the unsharded one; the parts hold the logits of one pass, bit for bit', async () => {
    expect(fs.existsSync(out())).toBe(false); // shards write parts only
    expect(await cli(['merge', ...parts2(out()).reverse(), '--out', out()])).toMatch(/acc1\s+\d\.\d{4}[\s\S]*merged 2 zeroshot part\(s\)/); // any order
    const whole = readJson(at('zs-whole.json'));
    const merged = readJson(out());
    expect(merged.metrics).toEqual(whole.metrics);
    expect(untimed(merged)).toEqual(untimed(whole));
    expect(Object.keys(merged.settings)).toEqual(Object.keys(whole.settings));
    // Independent of merge: the library's single pass over all images, against the rows the two parts hold.
    const ds = readCifar10(CIFAR, { split: SPLIT });
    const ref = await evaluateZeroShot({ ...bundle, dataset: ds, classnames: CIFAR10_CLASSNAMES_EN, templates: CIFAR10_TEMPLATES_EN, batchSize: 5, keepLogits: true });
    ds.close();
    const parts = await Promise.all(parts2(out()).map(readPart));
    expect(parts.map((p) => p.header.cuts.images.range)).toEqual([[0, 10], [10, pngs.length]]); // cut on whole batches of 5
    expect(bitsEqual(concatRows(parts, 'logits').data as Float32Array, ref.logits!)).toBe(true);
    expect(Array.from(concatRows(parts, 'labels').data)).toEqual(labels);
    expect(merged.metrics).toEqual({ acc1: ref.metrics.acc1, acc5: ref.metrics.acc5, mean_per_class_recall: ref.metrics.meanPerClassRecall });
  });

  test('merge refuses a missing, duplicate or foreign part, naming the file', async () => {
    const [p0, p1] = parts2(out());
    await expect(cli(['merge', p0, '--out', out()])).rejects.toThrow('1 of 2 shards missing (1/2)');
    await expect(cli(['merge', p0, p0, p1, '--out', out()])).rejects.toThrow(`${p0} and ${p0} are both shard 0/2`);
    // Another run: other templates (the classifier differs), and another number of shards.
    const other = at('zs-other.json');
    await zs(other, ['--shard', '1/2'], 'demo-heldout-en');
    await expect(cli(['merge', p0, `${other}.shard-0001-of-0002`, '--out', out()])).rejects.toThrow(/zs-other\.json\.shard-0001-of-0002 and .*zs\.json\.shard-0000-of-0002 are parts of different runs: settings/);
    await zs(other, ['--shard', '2/3']);
    await expect(cli(['merge', p0, p1, `${other}.shard-0002-of-0003`, '--out', out()])).rejects.toThrow(`${other}.shard-0002-of-0003 is shard 2/3, ${p0} shard 0/2`);
    // Not a part at all; no --out; a teacher-cache folder among files.
    await expect(cli(['merge', p0, at('zs-whole.json'), '--out', out()])).rejects.toThrow(`${at('zs-whole.json')} is not a part of a --shard run`);
    await expect(cli(['merge', p0, p1])).rejects.toThrow('merge: give --out FILE');
    await expect(cli(['merge', work, p0, '--out', out()])).rejects.toThrow(`${work} is a folder (a teacher cache) but ${p0} is not`);
  }, 120000);

  test('--shard needs --out, and a bad spec is refused before the model is opened', async () => {
    await expect(cli(['eval', 'zeroshot', '--model', modelDir, '--data', CIFAR, '--shard', '0/2'])).rejects.toThrow('--shard 0/2: give --out FILE.json');
    await expect(cli(['eval', 'zeroshot', '--model', at('nowhere'), '--data', CIFAR, '--shard', '2/2', '--out', out()])).rejects.toThrow('shard index 2 is outside 0..1');
  });
});

test('eval retrieval --shard i/2 + merge: the unsharded recalls; image and caption embeddings bit for bit', async () => {
  // Images with one or two captions each, of different lengths (captions follow their image into its shard): the
  // second shard's first caption is not at a multiple of the batch size, and text batches pad to their longest caption.
  const pairs = at('pairs.tsv');
  const rows = pngs.flatMap((f, i) => Array.from({ length: 1 + (i % 2) }, (_, k) => `${f}\ta ${'very '.repeat((i + k) % 5)}nice photo of a ${CIFAR10_CLASSNAMES_EN[labels[i]]}, take ${k}`));
  fs.writeFileSync(pairs, `image\tcaption\n${rows.join('\n')}\n`);
  const ret = (out: string, extra: string[] = []) => cli(['eval', 'retrieval', '--model', modelDir, '--data', pairs, '--batch-size', '4', '--out', out, ...extra]);
  const out = at('ret.json');
  await ret(at('ret-whole.json'));
  for (const i of [0, 1]) await ret(out, ['--shard', `${i}/2`]);
  expect(await cli(['merge', ...parts2(out), '--out', out])).toMatch(/MR \d+\.\d\d[\s\S]*merged 2 retrieval part\(s\)/);
  const whole = readJson(at('ret-whole.json'));
  const merged = readJson(out);
  expect(merged.metrics).toEqual(whole.metrics);
  expect(untimed(merged)).toEqual(untimed(whole));
  expect(merged.settings).toMatchObject({ n_images: pngs.length, n_texts: rows.length });
  const ref = await evaluateRetrieval({ ...bundle, dataset: await readRetrievalDataset(pairs), batchSize: 4, keepEmbeddings: true });
  const parts = await Promise.all(parts2(out).map(readPart));
  expect(bitsEqual(concatRows(parts, 'image_embeds').data as Float32Array, ref.embeddings!.image)).toBe(true);
  expect(bitsEqual(concatRows(parts, 'text_embeds').data as Float32Array, ref.embeddings!.text)).toBe(true);
  // A zero-shot part and a retrieval part are not one run.
  await expect(cli(['merge', parts2(out)[0], parts2(at('zs.json'))[1], '--out', out])).rejects.toThrow(`${parts2(at('zs.json'))[1]} is a part of 'zeroshot', ${parts2(out)[0]} of 'retrieval'`);
}, 120000);

describe('embed --shard i/2 + merge', () => {
  const texts = ['a cat', 'a dog', '一只猫', 'a ship at sea', 'two trucks', 'a frog', 'an airplane'];
  let list: string;
  let textsFile: string;
  beforeAll(() => {
    // An unreadable file among the images: skipped and listed, in the shard that reads it.
    list = at('images.txt');
    fs.writeFileSync(list, [...pngs.slice(0, 5), at('missing.png'), ...pngs.slice(5, 11)].join('\n') + '\n');
    textsFile = at('texts.txt');
    fs.writeFileSync(textsFile, texts.join('\n') + '\n');
  });
  const emb = (out: string, extra: string[] = []) => cli(['embed', '--model', modelDir, '--images', list, '--texts', textsFile, '--batch-size', '2', '--out', out, ...extra]);

  test('NAME.safetensors and NAME.index.json merged from 2 parts are the bytes of the unsharded run', async () => {
    await emb(at('whole.safetensors'));
    const out = at('sharded.safetensors');
    await emb(out, ['--shard', '0/2']);
    // The second task takes its index from the job array's environment, as under Slurm --array.
    const env = { ...process.env };
    Object.assign(process.env, { SLURM_ARRAY_TASK_ID: '8', SLURM_ARRAY_TASK_MIN: '7', SLURM_ARRAY_TASK_COUNT: '2' });
    try {
      expect(await emb(out)).toContain('embed, shard 1/2');
    } finally {
      process.env = env;
    }
    expect(fs.existsSync(out)).toBe(false);
    expect(await cli(['merge', ...parts2(out), '--out', out])).toContain(`merged 2 embed part(s) into ${out} and ${at('sharded.index.json')}`);
    expect(fs.readFileSync(out).equals(fs.readFileSync(at('whole.safetensors')))).toBe(true);
    const index = fs.readFileSync(at('sharded.index.json'), 'utf8');
    expect(index).toBe(fs.readFileSync(at('whole.index.json'), 'utf8'));
    expect(JSON.parse(index)).toMatchObject({ image_embeds: { rows: 11 }, text_embeds: { rows: 7, texts }, skipped_images: [{ path: at('missing.png') }] });
  }, 120000);

  test('parts of other inputs or settings are refused', async () => {
    const out = at('sharded.safetensors');
    const other = at('other.safetensors');
    await emb(other, ['--shard', '1/2', '--raw']);
    await expect(cli(['merge', parts2(out)[0], `${other}.shard-0001-of-0002`, '--out', at('x.safetensors')])).rejects.toThrow(/parts of different runs: normalized false vs true/);
    fs.writeFileSync(textsFile, [...texts.slice(0, 6), 'a horse'].join('\n') + '\n'); // same count, another text
    await emb(other, ['--shard', '1/2']);
    await expect(cli(['merge', parts2(out)[0], `${other}.shard-0001-of-0002`, '--out', at('x.safetensors')])).rejects.toThrow(/parts of different runs: lists/);
  }, 120000);
});
