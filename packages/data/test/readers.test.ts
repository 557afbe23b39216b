import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '@altclip/test-utils';
import {
  readImageTextPairs,
  readParallelCorpus,
  readKarpathy,
  readCnCaptions,
  readRetrievalDataset,
  splitCsv,
  formatReport,
} from '@altclip/data';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true }));
const touch = (p: string) => {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, 'x');
};

test('splitCsv: quotes, escaped quotes, embedded delimiters, open quote', () => {
  expect(splitCsv('a,"b,c","say ""hi""",')).toEqual(['a', 'b,c', 'say "hi"', '']);
  expect(splitCsv('a,"open')).toBeNull();
});

describe('image-text pairs', () => {
  beforeAll(() => ['imgs/a.jpg', 'imgs/b.jpg', 'root2/c.png'].forEach((f) => touch(path.join(dir, f))));

  test('CSV with quoted multi-line caption, bad rows skipped and counted', async () => {
    const f = path.join(dir, 'pairs.csv');
    fs.writeFileSync(
      f,
      ['filepath,title,lang', 'imgs/a.jpg,"a cat, sitting",en', 'imgs/b.jpg,"two', 'lines",en', 'imgs/missing.jpg,gone,en', 'imgs/a.jpg,,zh', 'too,many,fields,here', 'imgs/b.jpg,一只狗,zh', ''].join('\n'),
    );
    const { pairs, report } = await readImageTextPairs(f);
    expect(pairs.map((p) => [path.relative(dir, p.image), p.caption, p.lang, p.line])).toEqual([
      ['imgs/a.jpg', 'a cat, sitting', 'en', 2],
      ['imgs/b.jpg', 'two\nlines', 'en', 3],
      ['imgs/b.jpg', '一只狗', 'zh', 8],
    ]);
    expect(report).toMatchObject({ rows: 6, kept: 3, skipped: 3 });
    expect(report.reasons).toEqual({ 'missing image file': 1, 'missing or empty caption': 1, 'unparsable row': 1 });
    expect(formatReport(report)).toMatch(/6 rows, 3 kept, 3 skipped/);
  });

  test('TSV and JSONL with custom columns and --root', async () => {
    const tsv = path.join(dir, 'p.tsv');
    fs.writeFileSync(tsv, 'cap\tpic\nred ball\tc.png\n\tc.png\n');
    const r1 = await readImageTextPairs(tsv, { imageColumn: 'pic', captionColumn: 'cap', root: path.join(dir, 'root2') });
    expect(r1.pairs.map((p) => [p.image, p.caption])).toEqual([[path.join(dir, 'root2/c.png'), 'red ball']]);
    expect(r1.report.skipped).toBe(1);
    const jl = path.join(dir, 'p.jsonl');
    fs.writeFileSync(jl, '{"img":"imgs/a.jpg","zh":"猫","l":"zh"}\n{bad json\n[1,2]\n{"img":"imgs/a.jpg"}\n');
    const r2 = await readImageTextPairs(jl, { imageColumn: 'img', captionColumn: 'zh', langColumn: 'l' });
    expect(r2.pairs.map((p) => [p.caption, p.lang])).toEqual([['猫', 'zh']]);
    expect(r2.report).toMatchObject({ rows: 4, kept: 1, skipped: 3 });
  });
});

describe('parallel corpus', () => {
  test('TSV en<TAB>zh with header line and bad rows; enEn adds identity pairs', async () => {
    const f = path.join(dir, 'c.tsv');
    fs.writeFileSync(f, 'en\tzh\na cat\t一只猫\nno tab here\n\t空\na dog\t一只狗\textra\n');
    const { pairs, report } = await readParallelCorpus(f, { enEn: true });
    expect(pairs.map((p) => [p.teacherText, p.studentText, p.kind])).toEqual([
      ['a cat', '一只猫', 'translation'],
      ['a cat', 'a cat', 'identity'],
      ['a dog', '一只狗', 'translation'],
      ['a dog', 'a dog', 'identity'],
    ]);
    expect(report).toMatchObject({ rows: 4, kept: 2, skipped: 2 });
  });

  test('JSONL with configurable field names', async () => {
    const f = path.join(dir, 'c.jsonl');
    fs.writeFileSync(f, '{"source":"hello","target":"你好"}\n{"source":"x"}\nnot json\n');
    const { pairs, report } = await readParallelCorpus(f, { teacherField: 'source', studentField: 'target' });
    expect(pairs.map((p) => [p.teacherText, p.studentText])).toEqual([['hello', '你好']]);
    expect(report.skipped).toBe(2);
  });
});

describe('retrieval readers', () => {
  beforeAll(() => ['r/1.jpg', 'r/2.jpg', 'r/val/3.jpg', 'r/COCO_1.jpg'].forEach((f) => touch(path.join(dir, f))));

  test('Karpathy JSON: test split only, captions grouped, filepath joined', () => {
    const f = path.join(dir, 'k.json');
    fs.writeFileSync(
      f,
      JSON.stringify({
        dataset: 'flickr30k',
        images: [
          { split: 'train', filename: '9.jpg', sentences: [{ raw: 'no' }] },
          { split: 'test', filename: '1.jpg', sentences: [{ raw: 'a' }, { raw: 'b' }] },
          { split: 'test', filepath: 'val', filename: '3.jpg', sentences: [{ raw: 'c' }] },
          { split: 'test', filename: '404.jpg', sentences: [{ raw: 'gone' }] },
        ],
      }),
    );
    const ds = readKarpathy(f, { root: path.join(dir, 'r') });
    expect(ds.images).toEqual([path.join(dir, 'r/1.jpg'), path.join(dir, 'r/val/3.jpg')]);
    expect(ds.captions).toEqual(['a', 'b', 'c']);
    expect(Array.from(ds.textToImage)).toEqual([0, 0, 1]);
    expect(ds.report.reasons['missing image file']).toBe(1);
  });

  test('Flickr30k-CN style lines and COCO-CN ids without extension', async () => {
    const f = path.join(dir, 'cn.txt');
    fs.writeFileSync(f, '2.jpg#0\t狗在跑\n1.jpg#0\t猫\n2.jpg#1\t一只狗\nbroken line\nCOCO_1#zh#0\t人\n');
    const ds = await readCnCaptions(f, { root: path.join(dir, 'r') });
    expect(ds.images.map((p) => path.basename(p))).toEqual(['2.jpg', '1.jpg', 'COCO_1.jpg']);
    expect(ds.captions).toEqual(['狗在跑', '一只狗', '猫', '人']);
    expect(Array.from(ds.textToImage)).toEqual([0, 0, 1, 2]);
    expect(ds.report.skipped).toBe(1);
    const auto = await readRetrievalDataset(f, { root: path.join(dir, 'r') });
    expect(auto.captions).toEqual(ds.captions);
  });

  test('plain JSONL of (image, caption) rows grouped per image', async () => {
    const f = path.join(dir, 'r/ret.jsonl');
    fs.writeFileSync(f, ['1.jpg', '2.jpg', '1.jpg'].map((im, i) => JSON.stringify({ image: im, caption: `c${i}` })).join('\n'));
    const ds = await readRetrievalDataset(f);
    expect(ds.images.map((p) => path.basename(p))).toEqual(['1.jpg', '2.jpg']);
    expect(ds.captions).toEqual(['c0', 'c2', 'c1']);
    expect(Array.from(ds.textToImage)).toEqual([0, 0, 1]);
  });
});

test('readImageFolder: sorted class subfolders, images decoded on demand, non-images ignored', async () => {
  const sharp = require('sharp');
  const { readImageFolder } = require('@altclip/data');
  const root = path.join(dir, 'folder');
  const make = async (rel: string, v: number) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    await sharp(Buffer.alloc(4 * 3 * 3, v), { raw: { width: 4, height: 3, channels: 3 } }).png().toFile(path.join(root, rel));
  };
  await make('dog/b.png', 20);
  await make('dog/a.png', 10);
  await make('cat/x.png', 30);
  fs.writeFileSync(path.join(root, 'cat', 'notes.txt'), 'not an image');
  const ds = readImageFolder(root);
  expect(ds.classNames).toEqual(['cat', 'dog']);
  expect(ds.files.map((f: string) => path.relative(root, f))).toEqual(['cat/x.png', 'dog/a.png', 'dog/b.png']);
  expect(Array.from(ds.labels)).toEqual([0, 1, 1]);
  const img = await ds.getImage(1);
  expect([img.width, img.height, img.data[0]]).toEqual([4, 3, 10]);
  expect(() => readImageFolder(path.join(dir, 'nope'))).toThrow(/not found/);
});

test('a parallel corpus that is really an image-text pairs file (image, caption, lang header) is refused, naming the file and line', async () => {
  const dir = tmpDir('altclip-corpus-');
  try {
    const f = path.join(dir, 'pairs.tsv');
    fs.writeFileSync(f, 'image\tcaption\tlang\nimg/a.png\ta cat\ten\n');
    await expect(readParallelCorpus(f)).rejects.toThrow(`${f}:1: the header 'image\tcaption\tlang' is an image-text pairs file's; distill takes a parallel corpus`);
    fs.writeFileSync(f, 'en\tzh\na cat\t一只猫\n');
    expect((await readParallelCorpus(f, { enEn: false })).pairs.map((p) => p.studentText)).toEqual(['一只猫']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
