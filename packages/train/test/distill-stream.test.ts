import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { setupBackend } from '@altclip/backend';
import { fixture, tmpDir, REPO_ROOT } from '@altclip/test-utils';
import { runDistill, TeacherCacheReader, readTeacherCacheIndex, writeTeacherCacheIndex, INDEX_FILE } from '../src';
import { charTokenizer } from './char-tokenizer';

const SPM = path.join(REPO_ROOT, 'datasets', 'demo-spm');
const TINY = fixture('altclip-tiny');
let dir: string;
const EN = ['a photo of a dress.', 'a picture of a bag.', 'a photo of a coat.', 'a black and white photo of a sandal.', 'a red hat.', 'two shoes.', 'a blue shirt.', 'a green skirt.', 'an old scarf.'];
const ZH = ['一张连衣裙的照片。', '一幅包的图片。', '一张外套的照片。', '一张凉鞋的黑白照片。', '一顶红帽子。', '两只鞋。', '一件蓝衬衫。', '一条绿裙子。', '一条旧围巾。'];

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = tmpDir('altclip-distill-stream-');
  fs.writeFileSync(path.join(dir, 'corpus.tsv'), EN.map((e, i) => `${e}\t${ZH[i]}`).join('\n') + '\nbroken line without tab\n');
  // The same rows split over a plain file and a gzipped one (read as one corpus with `::`).
  fs.writeFileSync(path.join(dir, 'c1.tsv'), EN.slice(0, 4).map((e, i) => `${e}\t${ZH[i]}`).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'c2.tsv.gz'), zlib.gzipSync(EN.slice(4).map((e, i) => `${e}\t${ZH[i + 4]}`).join('\n') + '\nbroken line without tab\n'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = () => ({
  teacher: fixture('altclip-tiny', 'teacher'), student: TINY, tokenizer: SPM, teacherTokenizer: charTokenizer, cacheDir: path.join(dir, 'cache'),
  batchSize: 4, lr: 1e-3, warmup: 1, schedule: 'constant' as const, shuffle: false, logEvery: 1, progress: false as const, log: () => undefined,
});

test('stage 1 on a streamed corpus (blocks of 3 rows, two files, one .gz) equals the in-memory run, loss for loss; the cache is shared', async () => {
  const mem = await runDistill({ ...base(), data: path.join(dir, 'corpus.tsv'), datasetType: 'memory', out: path.join(dir, 'mem'), steps: 7 });
  const logs: string[] = [];
  const str = await runDistill({
    ...base(), data: `${dir}/c1.tsv::${dir}/c2.tsv.gz`, shuffleBuffer: 0, teacherCacheRows: 3, out: path.join(dir, 'str'), steps: 7, log: (l) => logs.push(l),
  });
  expect(mem.losses).toHaveLength(7); // 18 pairs (9 rows + EN-EN), batch 4: an epoch boundary at step 5
  expect(str.losses).toEqual(mem.losses);
  expect(logs.some((l) => l.includes('streaming the corpus (2 file(s), 9 rows'))).toBe(true);
  // Same rows in the same order (the two files, the skipped line left out): the same key, so the streamed run reads
  // the cache the in-memory run wrote (one part of 9 rows), whatever its own part size.
  expect(str.teacherCache).toBe(mem.teacherCache);
  expect(logs.some((l) => l.includes('teacher features from cache'))).toBe(true);
  const ix = readTeacherCacheIndex(str.teacherCache!, path.basename(str.teacherCache!).split('-')[1])!;
  expect(ix.parts.map((p) => p.rows)).toEqual([9]);
}, 400000);

test('streamed stage 1 resumes exactly (shuffled blocks, shuffle buffer 5)', async () => {
  const o = { ...base(), data: path.join(dir, 'corpus.tsv'), datasetType: 'stream' as const, teacherCacheRows: 2, shuffle: true, shuffleBuffer: 5, seed: 4 };
  const whole = await runDistill({ ...o, out: path.join(dir, 'whole'), steps: 6 });
  const a = await runDistill({ ...o, out: path.join(dir, 'part'), steps: 3 });
  const b = await runDistill({ ...o, out: path.join(dir, 'part'), steps: 6, resume: 'latest' });
  expect([...a.losses, ...b.losses]).toEqual(whole.losses);
}, 400000);

test('teacher cache: f16 parts hold the f32 features rounded; computed in part ranges (--shard i/N) and indexed it equals one run', async () => {
  const one = await runDistill({ ...base(), data: path.join(dir, 'corpus.tsv'), cacheTeacherOnly: true, teacherCacheRows: 2, out: path.join(dir, 'x1') });
  const f32 = new TeacherCacheReader(one.teacherCache!, JSON.parse(fs.readFileSync(path.join(one.teacherCache!, INDEX_FILE), 'utf8')));
  const ref = f32.readAll();
  expect(ref.length).toBe(9 * f32.dim);
  const split = path.join(dir, 'cache-split');
  for (let i = 0; i < 3; i++) {
    const r = await runDistill({ ...base(), cacheDir: split, data: path.join(dir, 'corpus.tsv'), cacheTeacherOnly: true, cacheShard: { index: i, count: 3 }, teacherCacheRows: 2, teacherCacheDtype: 'f16', out: path.join(dir, `s${i}`) });
    // Parts 0-1, 2-3, 4 of 5: the last shard does not complete the cache alone (no index until every part is there).
    expect(fs.existsSync(path.join(r.teacherCache!, INDEX_FILE))).toBe(false);
  }
  const dirF16 = fs.readdirSync(split).map((d) => path.join(split, d))[0];
  const key = path.basename(dirF16).split('-')[1];
  const ix = await writeTeacherCacheIndex(dirF16, { key, rows: 9, rowsPerPart: 2 });
  expect(ix.dtype).toBe('f16');
  const half = new TeacherCacheReader(dirF16, ix).readAll();
  let maxRel = 0;
  for (let i = 0; i < ref.length; i++) maxRel = Math.max(maxRel, Math.abs(half[i] - ref[i]) / Math.max(1e-3, Math.abs(ref[i])));
  expect(maxRel).toBeLessThan(1e-3); // half precision: 11-bit mantissa
  expect(maxRel).toBeGreaterThan(0);
  fs.rmSync(path.join(dirF16, 'part-00003.safetensors'));
  await expect(writeTeacherCacheIndex(dirF16, { key, rows: 9, rowsPerPart: 2 })).rejects.toThrow(/1 part\(s\) missing .*part-00003\.safetensors/);
  // A changed corpus never gets these features: one edited text, another key.
  fs.writeFileSync(path.join(dir, 'corpus2.tsv'), fs.readFileSync(path.join(dir, 'corpus.tsv'), 'utf8').replace('a red hat.', 'a red cap.'));
  const other = await runDistill({ ...base(), data: path.join(dir, 'corpus2.tsv'), cacheTeacherOnly: true, teacherCacheRows: 2, out: path.join(dir, 'x2') });
  expect(other.teacherCache).not.toBe(one.teacherCache);
}, 400000);
