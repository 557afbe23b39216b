import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { IMAGE_EXTENSIONS, listImages } from './imagefolder';
import { iterImageTextPairs, PairReaderOptions } from './pairs';
import { newReport, ReadReport, skipRow } from './report';
import { TAR_END, tarMember } from './tar';

/** One sample to write: an image file and its caption and/or class. */
export interface ShardInput {
  image: string;
  caption?: string;
  label?: number;
  /** Extra fields for the sample's .json member (source line, language, ...). */
  meta?: Record<string, unknown>;
}

export interface WriteShardsOptions {
  /** Samples per shard (default 10000, img2dataset's). */
  perShard?: number;
  /** gzip each shard (.tar.gz); default false: plain .tar reads faster and can be seeked. */
  gzip?: boolean;
  /** Shard name pattern; `{n}` is the zero-padded shard number (default '{n}.tar'). */
  name?: string;
  onProgress?: (samples: number, shards: number) => void;
}

export interface WriteShardsResult {
  shards: string[];
  samples: number;
  /** The list to train on, e.g. `out/{00000..00012}.tar`. */
  pattern: string;
  /** Samples offered (rows), written (kept) and skipped (unreadable images). */
  report: ReadReport;
}

const CANON_EXT: Record<string, string> = { jpeg: 'jpg', tif: 'tiff' };

/**
 * Writes samples as WebDataset shards in `out` (img2dataset's layout: `<key>.jpg`, `<key>.txt`, `<key>.cls`,
 * `<key>.json`, keys `<shard><index>`), plus sizes.json (open_clip's sample counts). Each shard is written under a
 * temporary name and renamed when complete; image bytes are copied as they are. Unreadable images are skipped and
 * counted in the report, never fatal.
 */
export async function writeShards(samples: AsyncIterable<ShardInput> | Iterable<ShardInput>, out: string, o: WriteShardsOptions = {}): Promise<WriteShardsResult> {
  const per = o.perShard ?? 10000;
  if (!Number.isInteger(per) || per < 1) throw new Error(`--per-shard must be an integer >= 1, got ${o.perShard}`);
  fs.mkdirSync(out, { recursive: true });
  const pattern = o.name ?? `{n}.tar${o.gzip ? '.gz' : ''}`;
  const report = newReport(out);
  const sizes: Record<string, number> = {};
  const shards: string[] = [];
  let members: Buffer[] = [];
  let inShard = 0;
  let total = 0;
  const shardName = (n: number) => pattern.replace('{n}', String(n).padStart(5, '0'));
  const flush = async () => {
    if (inShard === 0) return;
    const name = shardName(shards.length);
    const file = path.join(out, name);
    const tmp = `${file}.tmp-${process.pid}`;
    const body = Buffer.concat([...members, TAR_END]);
    await fs.promises.writeFile(tmp, o.gzip ? zlib.gzipSync(body) : body);
    await fs.promises.rename(tmp, file);
    sizes[name] = inShard;
    shards.push(file);
    members = [];
    inShard = 0;
    o.onProgress?.(total, shards.length);
  };
  for await (const s of samples) {
    report.rows++;
    let data: Buffer;
    try {
      data = await fs.promises.readFile(s.image);
    } catch (e) {
      skipRow(report, report.rows, 'unreadable image file', `${s.image}: ${(e as Error).message}`);
      continue;
    }
    if (data.length === 0) {
      skipRow(report, report.rows, 'empty image file', s.image);
      continue;
    }
    const key = `${String(shards.length).padStart(5, '0')}${String(inShard).padStart(4, '0')}`;
    const ext0 = path.extname(s.image).slice(1).toLowerCase() || 'jpg';
    members.push(...tarMember(`${key}.${CANON_EXT[ext0] ?? ext0}`, data));
    if (s.caption !== undefined) members.push(...tarMember(`${key}.txt`, Buffer.from(s.caption, 'utf8')));
    if (s.label !== undefined) members.push(...tarMember(`${key}.cls`, Buffer.from(String(s.label))));
    members.push(...tarMember(`${key}.json`, Buffer.from(JSON.stringify({ key, source: s.image, ...s.meta, ...(s.caption !== undefined ? { caption: s.caption } : {}) }))));
    report.kept++;
    inShard++;
    total++;
    if (inShard === per) await flush();
  }
  await flush();
  if (shards.length === 0) throw new Error(`no samples written to ${out} (${report.skipped} skipped)`);
  const sizesFile = path.join(out, 'sizes.json');
  const prev = fs.existsSync(sizesFile) ? JSON.parse(fs.readFileSync(sizesFile, 'utf8')) : {};
  fs.writeFileSync(sizesFile, JSON.stringify({ ...prev, ...sizes }, null, 1) + '\n');
  const last = String(shards.length - 1).padStart(5, '0');
  const listPattern = path.join(out, shards.length === 1 ? shardName(0) : pattern.replace('{n}', `{00000..${last}}`));
  return { shards, samples: total, pattern: listPattern, report };
}

/**
 * The samples of a folder, for `altclip shards --from DIR`: images with a caption file beside them (`a.jpg` +
 * `a.txt`), or class folders (`DIR/<class>/<image>`, written with .cls = the class's index in sorted order and .txt
 * = the class name). Images without a caption in a caption folder are skipped and counted.
 */
export function folderSamples(dir: string, report?: ReadReport): { samples: ShardInput[]; classNames?: string[] } {
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  const classDirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  const looseImages = entries.some((e) => e.isFile() && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase()));
  if (classDirs.length && !looseImages) {
    const samples: ShardInput[] = [];
    classDirs.forEach((c, label) => {
      for (const image of listImages(path.join(dir, c), true)) samples.push({ image, caption: c, label, meta: { class: c } });
    });
    return { samples, classNames: classDirs };
  }
  const samples: ShardInput[] = [];
  for (const image of listImages(dir, true)) {
    const txt = image.replace(/\.[^./]+$/, '.txt');
    if (!fs.existsSync(txt)) {
      if (report) skipRow(report, 0, 'no caption file', `${txt} not found`);
      continue;
    }
    const caption = fs.readFileSync(txt, 'utf8').trim();
    if (!caption) {
      if (report) skipRow(report, 0, 'empty caption', txt);
      continue;
    }
    samples.push({ image, caption });
  }
  return { samples };
}

/**
 * `altclip shards --from <pairs file | folder> --out DIR --per-shard N`: the library half of the command.
 * `source`: how the input was read (rows of a pairs file, images of a folder without captions).
 */
export async function shardsFrom(
  from: string, out: string, o: WriteShardsOptions & PairReaderOptions = {},
): Promise<WriteShardsResult & { classNames?: string[]; source: ReadReport }> {
  if (!fs.existsSync(from)) throw new Error(`--from ${from}: not found`);
  const source = o.report ?? newReport(from);
  if (fs.statSync(from).isDirectory()) {
    const { samples, classNames } = folderSamples(from, source);
    if (samples.length === 0) throw new Error(`--from ${from}: no captioned images (an image needs a .txt caption beside it) and no class folders`);
    const r = await writeShards(samples, out, o);
    if (classNames) fs.writeFileSync(path.join(out, 'classnames.txt'), classNames.join('\n') + '\n');
    return { ...r, classNames, source };
  }
  async function* pairs(): AsyncGenerator<ShardInput> {
    for await (const p of iterImageTextPairs(from, { ...o, report: source })) yield { image: p.image, caption: p.caption, meta: { line: p.line, ...(p.lang ? { lang: p.lang } : {}) } };
  }
  return { ...(await writeShards(pairs(), out, o)), source };
}
