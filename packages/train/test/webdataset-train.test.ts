import * as fs from 'fs';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { closeSharedPool } from '@altclip/image';
import { fixture, tmpDir, REPO_ROOT } from '@altclip/test-utils';
import { Positioned, shardsFrom, shuffledIndices, tarMember, TAR_END, webDatasetSource, WdsRecord, writeShards } from '@altclip/data';
import { runContrastive, runFinetune } from '../src';
import { recordStreamSource } from '../src/sources/record-stream';
import type { StreamPlan } from '../src/sources/types';

const SPM = path.join(REPO_ROOT, 'datasets', 'demo-spm');
const TINY = fixture('altclip-tiny');
const quiet = { progress: false as const, log: () => undefined };
let dir: string;
const captions = ['a photo of a dress.', '一张包的照片。', 'a picture of a coat.', 'a photo of a sandal.', '一张外套的照片。', 'a black and white photo of a bag.', 'a picture of a shirt.', '一幅连衣裙的图片。', 'a red hat.', '一只鞋。'];
let images: string[];

/** 10 different small JPEGs (colour fields with a pattern), as files. */
async function makeJpegs(d: string): Promise<string[]> {
  const sharp = require('sharp');
  fs.mkdirSync(d, { recursive: true });
  const out: string[] = [];
  for (let k = 0; k < 10; k++) {
    const w = 32 + 4 * k;
    const px = Buffer.alloc(w * w * 3);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) px.set([(x * 7 * (k + 1)) & 255, (y * 5 + 40 * k) & 255, ((x ^ y) * (k + 3)) & 255], (y * w + x) * 3);
    const f = path.join(d, `img${k}.jpg`);
    await sharp(px, { raw: { width: w, height: w, channels: 3 } }).jpeg({ quality: 90 }).toFile(f);
    out.push(f);
  }
  return out;
}

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = tmpDir('altclip-wds-train-');
  images = await makeJpegs(path.join(dir, 'img'));
  // The same 10 pairs as a TSV and as shards of 3 samples (batches of 4 cross shard boundaries).
  fs.writeFileSync(path.join(dir, 'pairs.tsv'), ['image\tcaption', ...images.map((f, i) => `${f}\t${captions[i]}`)].join('\n') + '\n');
  await writeShards(images.map((image, i) => ({ image, caption: captions[i] })), path.join(dir, 'shards'), { perShard: 3 });
});
afterAll(async () => {
  await closeSharedPool();
  fs.rmSync(dir, { recursive: true, force: true });
});

const base = { model: TINY, tokenizer: SPM, batchSize: 4, lr: 1e-3, warmup: 1, schedule: 'constant' as const, lockImage: false, logEvery: 1, ...quiet };

test('shuffle buffer 0, no shuffle: training on shards equals training on the same pairs as a TSV, loss for loss (epoch boundary included)', async () => {
  const tsv = await runContrastive({ ...base, data: path.join(dir, 'pairs.tsv'), out: path.join(dir, 'r-tsv'), steps: 5, shuffle: false });
  const wds = await runContrastive({ ...base, data: path.join(dir, 'shards', '{00000..00003}.tar'), shuffleBuffer: 0, out: path.join(dir, 'r-wds'), steps: 5, shuffle: false });
  expect(wds.losses).toHaveLength(5);
  expect(wds.losses).toEqual(tsv.losses);
  expect(wds.records.map((r) => r.epoch)).toEqual(tsv.records.map((r) => r.epoch));
  expect(wds.report!.kept).toBe(18); // batches of 4, 4, 2 (epoch of 10), 4, 4
  // The run's checkpoint holds the stream position (pass, offset, buffer) as JSON: mid-epoch, inside shard 2.
  const st = JSON.parse(fs.readFileSync(path.join(wds.runDir, 'checkpoints', 'step-5', 'trainer_state.json'), 'utf8'));
  expect(st.data).toMatchObject({ epoch: 1, batchInEpoch: 2, worldSize: 1, stream: { pass: 1, cursor: 8, buffer: [] } });
}, 400000);

test('resume mid-shard (shuffled shards, shuffle buffer 3) equals the uninterrupted run', async () => {
  const o = { ...base, data: path.join(dir, 'shards'), shuffleBuffer: 3, seed: 2 };
  const whole = await runContrastive({ ...o, out: path.join(dir, 'r-whole'), steps: 7 });
  const first = await runContrastive({ ...o, out: path.join(dir, 'r-part'), steps: 4 });
  const st = JSON.parse(fs.readFileSync(path.join(first.runDir, 'checkpoints', 'step-4', 'trainer_state.json'), 'utf8'));
  expect(st.data.stream.buffer).toHaveLength(2); // filled to 3 before each pick: restored from these positions
  // Inside a shard: the cursor is no shard boundary of pass 1's shard order.
  const order = shuffledIndices(4, 2, st.data.stream.pass);
  const ends = [...order].map((u, k) => [...order].slice(0, k + 1).reduce((a, v) => a + (v === 3 ? 1 : 3), 0));
  expect(ends).not.toContain(st.data.stream.cursor);
  const rest = await runContrastive({ ...o, out: path.join(dir, 'r-part'), resume: 'latest', steps: 7 });
  expect([...first.losses, ...rest.losses]).toEqual(whole.losses);
  expect(whole.losses).toHaveLength(7);
}, 400000);

/** Sample keys of each step of a rank, through the DataSource that training uses. */
async function keysByStep(src: Awaited<ReturnType<typeof webDatasetSource>>, plan: StreamPlan, steps: number, position?: unknown) {
  const ds = recordStreamSource<WdsRecord, string[]>({ source: src, shuffleBuffer: 4, build: async (recs: Positioned<WdsRecord>[]) => recs.map((r) => ('skip' in r.record ? `skip` : r.record.key)) });
  const s = await ds.open(plan, position);
  const out: { keys: string[]; position: unknown }[] = [];
  for (let k = 0; k < steps; k++) {
    const d = await s.next();
    out.push({ keys: d.micro.flat(), position: d.position });
  }
  await s.close();
  return { out, steps: Math.ceil(ds.samplesPerEpoch / plan.batchSize) };
}

test('2 ranks: every sample read exactly once per epoch; a rank resumes exactly on the same N and refuses another N', async () => {
  const src = await webDatasetSource(path.join(dir, 'shards', '*.tar'));
  const plan = (rank: number): StreamPlan => ({ batchSize: 4, accumSteps: 2, seed: 3, shuffle: true, dropLast: false, rank, worldSize: 2 });
  const per = [0, 1].map(async (r) => keysByStep(src, plan(r), 9));
  const [r0, r1] = await Promise.all(per);
  expect(r0.steps).toBe(3); // 10 samples, batch 4: 3 steps an epoch
  const all = [...Array(10).keys()].map((i) => `0000${Math.floor(i / 3)}000${i % 3}`).sort();
  for (let e = 0; e < 3; e++) {
    const seen = [r0, r1].flatMap((r) => r.out.slice(3 * e, 3 * e + 3).flatMap((s) => s.keys));
    expect(seen.sort()).toEqual(all);
  }
  expect(r0.out[0].keys).toHaveLength(2); // each rank's slice of the global batch of 4
  expect(r1.out[2].keys).toHaveLength(1); // the last batch of 2 is cut in two
  const resumed = await keysByStep(src, plan(1), 5, JSON.parse(JSON.stringify(r1.out[3].position)));
  expect(resumed.out.map((s) => s.keys)).toEqual(r1.out.slice(4, 9).map((s) => s.keys));
  await expect(keysByStep(src, { ...plan(0), worldSize: 1 }, 1, r1.out[3].position)).rejects.toThrow(/written by 2 rank\(s\) on 1/);
});

test('a corrupt image, a missing caption and a truncated shard are skipped, counted and named; training goes on', async () => {
  const d = path.join(dir, 'bad');
  fs.mkdirSync(d, { recursive: true });
  const img = (i: number) => fs.readFileSync(images[i]);
  const shard = (name: string, members: [string, Buffer | string][], cut?: number) => {
    const bytes = Buffer.concat([...members.flatMap(([n, b]) => tarMember(n, Buffer.isBuffer(b) ? b : Buffer.from(b))), TAR_END]);
    fs.writeFileSync(path.join(d, name), cut ? bytes.subarray(0, cut) : bytes);
  };
  shard('a.tar', [['s1.jpg', img(0)], ['s1.txt', captions[0]], ['s2.jpg', Buffer.from('garbage, not a JPEG')], ['s2.txt', 'x'], ['s3.jpg', img(2)], ['s4.jpg', img(3)], ['s4.txt', captions[3]]]);
  shard('b.tar', [['t1.jpg', img(4)], ['t1.txt', captions[4]], ['t2.jpg', img(5)], ['t2.txt', captions[5]], ['t3.jpg', img(6)], ['t3.txt', captions[6]]], 512 + Math.ceil(img(4).length / 512) * 512 + 1024 + 512 + 100); // inside t2.jpg
  fs.writeFileSync(path.join(d, 'sizes.json'), JSON.stringify({ 'a.tar': 4, 'b.tar': 3 }));
  const r = await runContrastive({ ...base, data: `${d}/a.tar::${d}/b.tar`, shuffleBuffer: 0, shuffle: false, batchSize: 7, steps: 2, out: path.join(dir, 'r-bad') });
  expect(r.status).toBe('completed');
  expect(r.report!.rows).toBe(14);
  expect(r.report!.kept).toBe(6);
  expect(r.report!.reasons).toEqual({ 'corrupt image': 2, 'missing caption': 2, 'truncated tar': 4 });
  expect(r.failedImages).toBe(2);
  const ex = r.report!.examples.map((e) => e.reason);
  expect(ex.some((m) => /a\.tar sample 1 \(key s2\).*s2\.jpg/.test(m))).toBe(true);
  expect(ex.some((m) => /a\.tar sample 2 \(key s3\): missing caption \(no \.txt member\)/.test(m))).toBe(true);
  expect(ex.some((m) => /b\.tar sample 1: truncated tar .*archive truncated inside 't2\.jpg'/.test(m))).toBe(true);
}, 400000);

test('finetune on shards written from class folders (.cls, classnames.txt) equals finetune on the folder, loss for loss', async () => {
  const root = path.join(dir, 'classes');
  const names = ['ankle boot', 'bag', 'coat', 'dress'];
  images.slice(0, 8).forEach((f, i) => {
    fs.mkdirSync(path.join(root, names[i % 4]), { recursive: true });
    fs.copyFileSync(f, path.join(root, names[i % 4], `${i}.jpg`));
  });
  const w = await shardsFrom(root, path.join(dir, 'class-shards'), { perShard: 3 });
  expect(w.classNames).toEqual(names);
  const o = { ...base, templates: ['a photo of a {c}.'], steps: 3, shuffle: false };
  const folder = await runFinetune({ ...o, dataset: 'folder', data: root, out: path.join(dir, 'ft-folder') });
  const wds = await runFinetune({ ...o, datasetType: 'webdataset', data: w.pattern, shuffleBuffer: 0, out: path.join(dir, 'ft-wds') });
  expect(wds.losses).toEqual(folder.losses);
  expect(JSON.parse(fs.readFileSync(path.join(wds.runDir, 'config.json'), 'utf8')).classnames).toEqual(names);
  await expect(runFinetune({ ...o, datasetType: 'webdataset', out: path.join(dir, 'ft-none') })).rejects.toThrow(/needs --data <shard list/);
}, 400000);
