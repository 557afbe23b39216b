/** Bad input files (issue 24, item 10): a cut .gz IDX file, endless lines, invalid UTF-8 in captions. */
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { tmpDir } from '@altclip/test-utils';
import { readCnCaptions, readIdx, readImageTextPairs, readLines, readParallelCorpus, writeIdx, MAX_LINE_BYTES } from '@altclip/data';

const dir = tmpDir('altclip-bad-inputs-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('a truncated or corrupt .gz IDX file: the error names the file', () => {
  const images = path.join(dir, 'train-images-idx3-ubyte.gz');
  const labels = path.join(dir, 'train-labels-idx1-ubyte.gz');
  writeIdx(images, [4, 2, 2], new Uint8Array(16).map((_, i) => i));
  writeIdx(labels, [4], new Uint8Array([0, 1, 2, 3]));
  expect(readIdx(images, labels).size).toBe(4);
  const whole = fs.readFileSync(images);
  fs.writeFileSync(images, whole.subarray(0, whole.length - 12)); // a download cut short
  expect(() => readIdx(images, labels)).toThrow(`${images}: corrupt or truncated gzip data (unexpected end of file); delete it and download it again`);
  const bad = Buffer.from(whole);
  bad[12] ^= 0xff; // a flipped byte in the deflate stream
  fs.writeFileSync(images, bad);
  expect(() => readIdx(images, labels)).toThrow(new RegExp(`^${images}: corrupt or truncated gzip data \\(`));
});

test('readLines splits lines as readline does (\\n, \\r\\n, BOM), also across read chunks', async () => {
  const f = path.join(dir, 'lines.txt');
  // A \r\n split between the stream's first two 64 KiB chunks (\r the last byte of the first), multi-byte UTF-8, a BOM.
  const head = Buffer.from('\ufeffzuerst\nb\u00e9b\u00e9 \u4e2d\u6587\n\n');
  const pad = Buffer.alloc(65535 - head.length, 0x78);
  const tail = Buffer.from('\r\ntail\r\n\r\nlast'); // no lone \r: lines end at \n (byte offsets of streamed corpora)
  fs.writeFileSync(f, Buffer.concat([head, pad, tail]));
  expect(fs.readFileSync(f)[65535]).toBe(0x0d);
  const ours = (await collect(readLines(f))).map((l) => [l.line, l.text]);
  const theirs: [number, string][] = [];
  let n = 0;
  for await (const t of readline.createInterface({ input: fs.createReadStream(f, { encoding: 'utf8' }), crlfDelay: Infinity })) theirs.push([++n, n === 1 ? t.replace(/^\ufeff/, '') : t]);
  expect(ours).toEqual(theirs);
  expect(ours.length).toBeGreaterThan(6);
});

test('one endless line (no line break): an error naming the file, the line and the bound, not a string beyond the heap', async () => {
  const f = path.join(dir, 'endless.txt');
  fs.writeFileSync(f, 'ok\nfine\n');
  fs.appendFileSync(f, Buffer.alloc(3 * MAX_LINE_BYTES, 0x61));
  await expect(collect(readLines(f))).rejects.toThrow(new Error(`${f}:3: line longer than 1,048,576 bytes (no line break); expected one item per line, is this a text file?`));
  // A bound of one's own; exactly at the bound is fine.
  fs.writeFileSync(f, 'abcd\nabcde\n');
  await expect(collect(readLines(f, { maxLineBytes: 4 }))).rejects.toThrow(`${f}:2: line longer than 4 bytes`);
});

test('invalid UTF-8: readLines refuses it with the line number, or flags it for the readers, which skip and count it', async () => {
  const latin1 = Buffer.from('caf\xe9 au lait', 'latin1'); // é as one Latin-1 byte: invalid UTF-8
  const f = path.join(dir, 'texts.txt');
  fs.writeFileSync(f, Buffer.concat([Buffer.from('good line\n'), latin1, Buffer.from('\nalso good\n')]));
  await expect(collect(readLines(f))).rejects.toThrow(new Error(`${f}:2: not valid UTF-8 (is the file in another encoding, e.g. GBK or Latin-1? convert it with iconv)`));
  const flagged = await collect(readLines(f, { invalidUtf8: 'flag' }));
  expect(flagged.map((l) => [l.line, !!l.invalidUtf8])).toEqual([[1, false], [2, true], [3, false]]);

  fs.writeFileSync(path.join(dir, 'a.jpg'), 'x');
  const pairs = path.join(dir, 'pairs.tsv');
  fs.writeFileSync(pairs, Buffer.concat([Buffer.from('image\tcaption\na.jpg\ta cat\na.jpg\t'), latin1, Buffer.from('\na.jpg\ta dog\n')]));
  const r = await readImageTextPairs(pairs);
  expect(r.pairs.map((p) => p.caption)).toEqual(['a cat', 'a dog']);
  expect(r.report).toMatchObject({ rows: 3, kept: 2, skipped: 1, reasons: { 'invalid UTF-8': 1 } });
  expect(r.report.examples[0]).toMatchObject({ line: 3, reason: expect.stringMatching(/^invalid UTF-8: not valid UTF-8/) });
  // JSONL and the parallel corpus go through the same reader.
  const corpus = path.join(dir, 'corpus.tsv');
  fs.writeFileSync(corpus, Buffer.concat([Buffer.from('a photo\t\u4e00\u5f20\u7167\u7247\n'), Buffer.from([0x61, 0x09, 0xd5, 0xc5, 0xcd]), Buffer.from('\n')])); // GBK bytes
  const c = await readParallelCorpus(corpus);
  expect(c.report).toMatchObject({ kept: 1, skipped: 1, reasons: { 'invalid UTF-8': 1 } });
  const cn = path.join(dir, 'cn.txt');
  fs.writeFileSync(cn, Buffer.concat([Buffer.from('1.jpg#0\t\u4e00\u53ea\u732b\n2.jpg#0\t'), Buffer.from([0xd5, 0xc5]), Buffer.from('\n')]));
  const ret = await readCnCaptions(cn, { checkFiles: false });
  expect(ret.report).toMatchObject({ skipped: 1, reasons: { 'invalid UTF-8': 1 } });
});
