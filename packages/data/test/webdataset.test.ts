import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { tmpDir } from '@altclip/test-utils';
import {
  expandBraces, resolveFileList, resolveShards, looksLikeShardList, tarMember, TAR_END, ShardSampleReader, webDatasetSource, RankStream,
  RecordSource, rankRange, rankEpochShare, epochBatches, shardSizes, countSamples, writeShards, shardsFrom, readTar, sampleParser, WdsRecord,
  readLines,
} from '@altclip/data';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A shard written byte by byte here (independent of the library's writer): members in the given order. */
function rawShard(file: string, members: [string, string | Buffer][], opts: { gzip?: boolean; end?: boolean } = {}): void {
  const parts = members.flatMap(([n, d]) => tarMember(n, Buffer.isBuffer(d) ? d : Buffer.from(d)));
  if (opts.end !== false) parts.push(TAR_END);
  const body = Buffer.concat(parts);
  fs.writeFileSync(file, opts.gzip ? zlib.gzipSync(body) : body);
}

describe('shard lists', () => {
  test('brace expansion: ranges keep zero padding, alternatives, several and nested braces', () => {
    expect(expandBraces('s/{00008..00011}.tar')).toEqual(['s/00008.tar', 's/00009.tar', 's/00010.tar', 's/00011.tar']);
    expect(expandBraces('{a,b}/{1..2}.tar')).toEqual(['a/1.tar', 'a/2.tar', 'b/1.tar', 'b/2.tar']);
    expect(expandBraces('x{a,{b,c}}y')).toEqual(['xay', 'xby', 'xcy']);
    expect(expandBraces('{3..1}')).toEqual(['3', '2', '1']);
    expect(expandBraces('plain{x}.tar')).toEqual(['plain{x}.tar']);
  });

  test('`::` joins lists, globs match, a list matching nothing is an error naming it', () => {
    const d = path.join(dir, 'lists');
    fs.mkdirSync(path.join(d, 'a'), { recursive: true });
    fs.mkdirSync(path.join(d, 'b'), { recursive: true });
    for (const f of ['a/00000.tar', 'a/00001.tar', 'b/x.tar.gz']) fs.writeFileSync(path.join(d, f), '');
    expect(resolveFileList(`${d}/a/{00000..00001}.tar::${d}/b/*.tar.gz`).map((f) => path.relative(d, f))).toEqual(['a/00000.tar', 'a/00001.tar', 'b/x.tar.gz']);
    expect(() => resolveShards(`${d}/a/{00000..00001}.tar::${d}/c/{0..3}.tar`)).toThrow(`shard list '${d}/c/{0..3}.tar' matches no file`);
    const warned: string[] = [];
    expect(resolveShards(`${d}/a/{00000..00002}.tar`, (l) => warned.push(l))).toHaveLength(2);
    expect(warned[0]).toMatch(/1 of 3 files do not exist \(.*00002\.tar\)/);
    expect(resolveShards(path.join(d, 'a'))).toHaveLength(2); // a folder of shards
    expect(looksLikeShardList('x/{00000..01023}.tar')).toBe(true);
    expect(looksLikeShardList('a.tar.gz::b/{0..2}.tar')).toBe(true);
    expect(looksLikeShardList('pairs.tsv')).toBe(false);
  });

  test('readLines reads .gz corpora', async () => {
    const f = path.join(dir, 'lines.tsv.gz');
    fs.writeFileSync(f, zlib.gzipSync('\ufeffa\tb\r\nc\td\n\ne\tf'));
    const got: string[] = [];
    for await (const l of readLines(f)) got.push(`${l.line}:${l.text}`);
    expect(got).toEqual(['1:a\tb', '2:c\td', '3:', '4:e\tf']);
  });
});

describe('webdataset reading', () => {
  const shard = path.join(dir, 'grp.tar');
  beforeAll(() =>
    rawShard(shard, [
      ['d/k1.jpg', 'IMG1'], ['d/k1.txt', 'cap one'], ['d/k1.zh.txt', '一'], ['d/k1.json', '{"caption":"j1","meta":{"zh":"甲"}}'],
      ['d/k2.jpg', 'IMG2'], ['d/k2.txt', ' '], // empty caption
      ['d/k3.png', 'IMG3'], ['d/k3.txt', 'cap three'], ['d/k3.cls', '7'],
      ['d/k4.txt', 'no image'],
      ['d/k5.jpg', 'IMG5'], ['d/k5.cls', 'x'],
    ]),
  );

  test('members are grouped by key; caption key, language and JSON fields are chosen by options', async () => {
    const read = async (o: Parameters<typeof sampleParser>[0]) => {
      const { want, parse } = sampleParser(o);
      const r = await ShardSampleReader.open(shard, want);
      const out: unknown[] = [];
      for (let s = await r.next(); s; s = await r.next()) {
        const p = parse(s);
        out.push('skip' in p ? `${s.key}: ${p.skip}` : [p.key, p.imageExt, p.image.toString(), p.caption, p.label].filter((x) => x !== undefined).join(' '));
      }
      await r.close();
      return out;
    };
    expect(await read({})).toEqual([
      'd/k1 jpg IMG1 cap one', 'd/k2: empty caption', 'd/k3 png IMG3 cap three', 'd/k4: missing image', 'd/k5: missing caption (no .txt member)',
    ]);
    expect((await read({ captionLang: 'zh' }))[0]).toBe('d/k1 jpg IMG1 一');
    expect((await read({ captionKey: 'json:meta.zh' }))[0]).toBe('d/k1 jpg IMG1 甲');
    expect((await read({ captionKey: 'json:caption' }))[2]).toBe('d/k3: missing caption (no .json member)');
    expect(await read({ captions: false, labelKey: 'cls' })).toEqual([
      'd/k1: missing class (no .cls member)', 'd/k2: missing class (no .cls member)', 'd/k3 png IMG3 7', 'd/k4: missing image', "d/k5: bad class label 'x'",
    ]);
  });

  test('a corrupt header and a truncated archive end the shard: earlier samples kept, the rest counted by name', async () => {
    const good = path.join(dir, 'cut.tar');
    rawShard(good, [['a.jpg', 'A'], ['a.txt', 'a'], ['b.jpg', Buffer.alloc(3000, 1)], ['b.txt', 'b'], ['c.jpg', 'C'], ['c.txt', 'c']]);
    const bytes = fs.readFileSync(good);
    const truncated = path.join(dir, 'sizes-t', 'trunc.tar');
    const corrupt = path.join(dir, 'sizes-t', 'corrupt.tar');
    fs.mkdirSync(path.dirname(truncated), { recursive: true });
    fs.writeFileSync(truncated, bytes.subarray(0, 2048 + 1500)); // inside b.jpg
    const bad = Buffer.from(bytes);
    bad[2048 + 512 + 3072 + 1024 + 5] ^= 0xff; // c.jpg's header
    fs.writeFileSync(corrupt, bad);
    fs.writeFileSync(path.join(dir, 'sizes-t', 'sizes.json'), JSON.stringify({ 'trunc.tar': 3, 'corrupt.tar': 3 }));
    expect(await countSamples(truncated)).toBe(1);
    const src = await webDatasetSource([truncated, corrupt]);
    expect(src.units.map((u) => u.size)).toEqual([3, 3]);
    const recs: WdsRecord[] = [];
    for (let u = 0; u < 2; u++) {
      const r = await src.open(u, 0);
      for (let x = await r.next(); x; x = await r.next()) recs.push(x);
      await r.close();
    }
    const show = recs.map((r) => ('skip' in r ? r.skip.replace(dir, '') : r.caption));
    expect(show[0]).toBe('a');
    expect(show[1]).toMatch(/^truncated tar \(.*trunc\.tar: archive truncated inside 'b\.jpg'\)$/);
    expect(show[2]).toBe(show[1]);
    // A bad header cannot say whether it was b's last member: b goes with it.
    expect(show[3]).toBe('a');
    expect(show[4]).toMatch(/^corrupt tar \(.*corrupt\.tar: tar: header checksum mismatch at entry 4/);
    expect(show[5]).toBe(show[4]);
  });

  test('.tar.gz shards read the same; sizes come from sizes.json or a header scan', async () => {
    const gz = path.join(dir, 'gzs', 'g.tar.gz');
    fs.mkdirSync(path.dirname(gz));
    rawShard(gz, [['x.jpg', 'X'], ['x.txt', 'x'], ['y.jpg', 'Y'], ['y.txt', 'y']], { gzip: true });
    expect(await shardSizes([gz])).toEqual([2]); // scanned
    fs.writeFileSync(path.join(dir, 'gzs', 'g_stats.json'), JSON.stringify({ successes: 7 })); // img2dataset's count wins over a scan
    expect(await shardSizes([gz])).toEqual([7]);
    fs.rmSync(path.join(dir, 'gzs', 'g_stats.json'));
    const src = await webDatasetSource(gz);
    const r = await src.open(0, 1); // resume inside a gzip shard
    expect(await r.next()).toMatchObject({ key: 'y', caption: 'y' });
    expect(await r.next()).toBeNull();
    await r.close();
  });
});

/** A source of integer records: unit u holds records u*100 .. u*100+size-1. */
function intSource(sizes: number[]): RecordSource<number> {
  return {
    units: sizes.map((size, u) => ({ name: `u${u}`, size })),
    open: async (unit, offset) => {
      let i = offset;
      return { next: async () => (i < sizes[unit] ? unit * 100 + i++ : null), close: async () => undefined };
    },
  };
}

async function take<R>(s: RankStream<R>, n: number): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < n; i++) out.push((await s.next()).record);
  return out;
}

describe('rank streams', () => {
  const sizes = [7, 3, 0, 12, 5];
  const all = sizes.flatMap((n, u) => Array.from({ length: n }, (_, i) => u * 100 + i));

  test('buffer 0 and no unit shuffle: file order', async () => {
    const s = new RankStream(intSource(sizes), { seed: 1, shuffleUnits: false, shuffleBuffer: 0 });
    expect(await take(s, all.length + 2)).toEqual([...all, 100 * 0, 1]);
  });

  test('each pass emits every record exactly once, in a new order per pass', async () => {
    const s = new RankStream(intSource(sizes), { seed: 3, shuffleBuffer: 6 });
    const p0 = await take(s, all.length);
    const p1 = await take(s, all.length);
    expect([...p0].sort((a, b) => a - b)).toEqual(all);
    expect([...p1].sort((a, b) => a - b)).toEqual(all);
    expect(p0).not.toEqual(all);
    expect(p1).not.toEqual(p0);
  });

  test('2 ranks x 2 epochs: every record exactly once per epoch, shares from the batch split', async () => {
    const T = all.length; // 27
    const B = 6;
    expect(epochBatches(T, B).steps).toBe(5);
    expect([0, 1].map((r) => rankEpochShare(T, B, r, 2))).toEqual([14, 13]);
    const ranks = [0, 1].map((r) => new RankStream(intSource(sizes), { seed: 9, shuffleBuffer: 4, rank: r, range: rankRange(T, B, r, 2) }));
    for (let epoch = 0; epoch < 2; epoch++) {
      const seen: number[] = [];
      for (const [r, s] of ranks.entries()) seen.push(...(await take(s, rankEpochShare(T, B, r, 2))));
      expect(seen.sort((a, b) => a - b)).toEqual(all);
    }
  });

  test('restore(state()) continues exactly, buffer included (plain and resampled)', async () => {
    for (const o of [{ seed: 5, shuffleBuffer: 5 }, { seed: 5, shuffleBuffer: 4, resampled: true }, { seed: 2, shuffleBuffer: 3, rank: 1, range: rankRange(27, 4, 1, 3) }]) {
      const a = new RankStream(intSource(sizes), o);
      const whole = await take(a, 70);
      const b = new RankStream(intSource(sizes), o);
      const head = await take(b, 23);
      const st = JSON.parse(JSON.stringify(b.state()));
      const c = new RankStream(intSource(sizes), o);
      await c.restore(st);
      expect([...head, ...(await take(c, 47))]).toEqual(whole);
    }
    const other = new RankStream(intSource([7, 3, 0, 12, 6]), { seed: 5 });
    await expect(other.restore(new RankStream(intSource(sizes), { seed: 5 }).state())).rejects.toThrow(/shards\/files differ/);
  });

  test('resampled: units drawn with replacement, each draw read whole', async () => {
    const s = new RankStream(intSource([4, 4, 4, 4]), { seed: 7, resampled: true, shuffleBuffer: 0 });
    const got = await take(s, 40);
    const draws = Array.from({ length: 10 }, (_, d) => got.slice(d * 4, d * 4 + 4));
    for (const d of draws) expect(d.map((x) => x % 100)).toEqual([0, 1, 2, 3]);
    const units = draws.map((d) => Math.floor(d[0] / 100));
    expect(new Set(units).size).toBeLessThan(10); // with replacement: 10 draws of 4 units repeat some
  });
});

describe('writing shards', () => {
  test('from a pairs file: sizes.json, a list pattern, and readTar (the other reader) agrees', async () => {
    const src = path.join(dir, 'w');
    fs.mkdirSync(path.join(src, 'img'), { recursive: true });
    const rows = ['image\tcaption'];
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(path.join(src, 'img', `${i}.jpeg`), `JPEG${i}`);
      rows.push(`img/${i}.jpeg\tcaption ${i}`);
    }
    rows.push('img/missing.jpg\tgone');
    fs.writeFileSync(path.join(src, 'pairs.tsv'), rows.join('\n'));
    const r = await shardsFrom(path.join(src, 'pairs.tsv'), path.join(dir, 'wout'), { perShard: 2 });
    expect(r.samples).toBe(5);
    expect(r.shards.map((f) => path.basename(f))).toEqual(['00000.tar', '00001.tar', '00002.tar']);
    expect(r.pattern).toBe(path.join(dir, 'wout', '{00000..00002}.tar'));
    expect(r.source.skipped).toBe(1);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'wout', 'sizes.json'), 'utf8'))).toEqual({ '00000.tar': 2, '00001.tar': 2, '00002.tar': 1 });
    const names: string[] = [];
    await readTar(fs.createReadStream(r.shards[1]) as AsyncIterable<Buffer>, (e) => (names.push(e.name), null));
    expect(names).toEqual(['000010000.jpg', '000010000.txt', '000010000.json', '000010001.jpg', '000010001.txt', '000010001.json']);
    const ws = await webDatasetSource(r.pattern);
    const rd = await ws.open(1, 1);
    expect(await rd.next()).toMatchObject({ caption: 'caption 3', imageExt: 'jpg', image: Buffer.from('JPEG3') });
    await rd.close();
  });

  test('from a folder of class folders: .cls and classnames.txt; unreadable images skipped and counted', async () => {
    const src = path.join(dir, 'classes');
    for (const [c, n] of [['cat', 2], ['dog', 1]] as const) {
      fs.mkdirSync(path.join(src, c), { recursive: true });
      for (let i = 0; i < n; i++) fs.writeFileSync(path.join(src, c, `${i}.png`), `P${c}${i}`);
    }
    fs.writeFileSync(path.join(src, 'dog', 'empty.png'), '');
    const r = await writeShards(
      (await import('@altclip/data')).folderSamples(src).samples, path.join(dir, 'cout'), { perShard: 10, gzip: true },
    );
    expect(r.report.skipped).toBe(1);
    const ws = await webDatasetSource(r.pattern, { captions: false, labelKey: 'cls' });
    const rd = await ws.open(0, 0);
    const labels: number[] = [];
    for (let x = await rd.next(); x; x = await rd.next()) labels.push((x as { label: number }).label);
    expect(labels).toEqual([0, 0, 1]);
  });
});
