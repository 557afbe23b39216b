import * as fs from 'fs';
import * as path from 'path';
import { resolveFileList } from './file-list';
import { TarFileReader, TarTruncatedError } from './tar-reader';
import { ReadReport, skipRow } from './report';
import type { SkippedRow } from './types';
import type { Positioned, RecordReader, RecordSource, StreamUnit } from './stream';

/** Image member extensions, in the order a sample's image is looked for. */
export const WDS_IMAGE_EXTS = ['jpg', 'jpeg', 'png', 'webp', 'bmp', 'ppm', 'pgm', 'tif', 'tiff', 'gif'];

const isShardName = (f: string) => /\.(tar|tar\.gz|tgz)$/i.test(f);

/** A shard list names WebDataset shards: every `::` part ends in .tar / .tar.gz / .tgz (braces and globs allowed). */
export function looksLikeShardList(spec: string): boolean {
  return spec.split('::').every((s) => isShardName(s.trim()));
}


/** A folder holding shards (what `altclip shards` writes): true when it has .tar files and no captions file. */
export function isShardFolder(dir: string): boolean {
  return fs.existsSync(dir) && fs.statSync(dir).isDirectory() && fs.readdirSync(dir).some(isShardName);
}

/** The shard files of a list (`dir/{00000..00009}.tar::other/*.tar`, or a folder of shards). Errors name the list. */
export function resolveShards(spec: string | string[], log?: (l: string) => void): string[] {
  return resolveFileList(spec, { what: 'shard list', folderFilter: isShardName, missing: 'warn', log });
}

/** WebDataset's key/extension split: `dir/000123.zh.txt` -> ['dir/000123', 'zh.txt']. */
export function splitMemberName(name: string): [string, string] {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot < 0 ? [name, ''] : [name.slice(0, dot), name.slice(dot + 1).toLowerCase()];
}

/** The members of one sample (one key), with what is needed to find it again. */
export interface RawSample {
  key: string;
  /** Member extension -> data (only the extensions asked for are read). */
  files: Map<string, Buffer>;
  /** Byte offset of the sample's first header (a .tar reader can start there). */
  offset: number;
}

/**
 * Samples of one shard in file order: consecutive members with the same key form a sample (WebDataset's rule).
 * `want(ext)`: which members' data to read (others are skipped, a seek in a .tar). next() returns null at the end;
 * a truncated archive throws TarTruncatedError after the complete samples before it.
 */
export class ShardSampleReader {
  private held: { key: string; ext: string; data: Buffer | null; offset: number } | null = null;
  private ended = false;
  private deferred: Error | undefined;
  private lastKey: string | undefined;
  /** Index of the sample the last member read belongs to. */
  private sample = -1;
  private constructor(private tar: TarFileReader, private want: (ext: string) => boolean, private readFrom: number) {}

  /** `readFrom`: samples before this index are only walked over (headers), their data never read. */
  static async open(file: string, want: (ext: string) => boolean, readFrom = 0, startByte = 0): Promise<ShardSampleReader> {
    return new ShardSampleReader(await TarFileReader.open(file, startByte), want, readFrom);
  }

  private async member(): Promise<{ key: string; ext: string; data: Buffer | null; offset: number } | null> {
    for (;;) {
      const m = await this.tar.next();
      if (!m) return null;
      if (m.type !== 'file') continue;
      const [key, ext] = splitMemberName(m.name);
      if (path.posix.basename(key).startsWith('__')) continue; // __key__-style metadata members
      if (key !== this.lastKey) {
        this.sample++;
        this.lastKey = key;
      }
      const read = this.sample >= this.readFrom && this.want(ext);
      return { key, ext, data: read ? await this.tar.data() : null, offset: m.offset };
    }
  }

  /** The next sample, or null at the end of the shard. */
  async next(): Promise<RawSample | null> {
    if (this.deferred) throw this.deferred;
    if (this.ended) return null;
    const first = this.held ?? (await this.member());
    this.held = null;
    if (!first) {
      this.ended = true;
      return null;
    }
    const s: RawSample = { key: first.key, files: new Map(), offset: first.offset };
    if (first.data) s.files.set(first.ext, first.data);
    for (;;) {
      let m;
      try {
        m = await this.member();
      } catch (e) {
        // Damage inside this sample's members (or a header that cannot say whose it is) loses the sample; damage
        // after its last member keeps it, and the error ends the shard at the next call.
        if (this.lastKey === s.key) throw e;
        this.deferred = e as Error;
        return s;
      }
      if (!m) {
        this.ended = true;
        return s;
      }
      if (m.key !== s.key) {
        this.held = m;
        return s;
      }
      if (m.data) s.files.set(m.ext, m.data);
    }
  }

  close(): Promise<void> {
    return this.tar.close();
  }
}

/** Where a sample's caption or class comes from: a member extension ('txt', 'zh.txt', 'cls') or `json:<field>`. */
export interface MemberField {
  ext: string;
  /** Dotted field path inside a JSON member. */
  field?: string;
}

/** Parses `txt`, `.zh.txt`, `json:caption`, `json:meta.caption_zh` (a leading dot is allowed). */
export function parseMemberField(spec: string, what: string): MemberField {
  const s = spec.trim().replace(/^\./, '');
  const m = /^([A-Za-z0-9_.-]+?)(?::(.+))?$/.exec(s);
  if (!m || (m[2] !== undefined && !m[2].trim())) throw new Error(`${what}: '${spec}' is not a member extension ('txt', 'zh.txt') or 'json:<field>'`);
  return { ext: m[1].toLowerCase(), field: m[2]?.trim() };
}

function fieldOf(files: Map<string, Buffer>, f: MemberField): { value?: unknown; problem?: string } {
  const data = files.get(f.ext);
  if (!data) return { problem: `no .${f.ext} member` };
  if (f.field === undefined) return { value: data.toString('utf8') };
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch (e) {
    return { problem: `bad JSON in .${f.ext} (${(e as Error).message})` };
  }
  for (const k of f.field.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v === undefined || v === null ? { problem: `.${f.ext} has no field '${f.field}'` } : { value: v };
}

export interface WdsSampleOptions {
  /** Caption source (default 'txt'); `captionLang: 'zh'` means 'zh.txt'. */
  captionKey?: string;
  captionLang?: string;
  /** Class label source for classification ('cls' or 'json:label'); unset: no label read. */
  labelKey?: string;
  /** Image member extensions to look for (default WDS_IMAGE_EXTS). */
  imageExts?: string[];
  /** Read captions (default true; false for classification shards). */
  captions?: boolean;
}

/** A parsed sample: the image bytes (decoded later, on worker threads), caption and/or class label. */
export interface WdsSample {
  key: string;
  image: Buffer;
  imageExt: string;
  caption?: string;
  label?: number;
}

/** The caption field a set of options selects. */
export function captionField(o: WdsSampleOptions): MemberField {
  if (o.captionKey) return parseMemberField(o.captionKey, '--caption-key');
  return { ext: o.captionLang ? `${o.captionLang.toLowerCase()}.txt` : 'txt' };
}

/** Turns raw members into a sample, or says why the sample is unusable (the reason is counted by the caller). */
export function sampleParser(o: WdsSampleOptions): { want: (ext: string) => boolean; parse: (s: RawSample) => WdsSample | { skip: string } } {
  const imageExts = (o.imageExts ?? WDS_IMAGE_EXTS).map((e) => e.toLowerCase());
  const cap = o.captions === false ? undefined : captionField(o);
  const lab = o.labelKey ? parseMemberField(o.labelKey, '--label-key') : undefined;
  const wanted = new Set([...imageExts, ...(cap ? [cap.ext] : []), ...(lab ? [lab.ext] : [])]);
  return {
    want: (ext) => wanted.has(ext),
    parse: (s) => {
      const imageExt = imageExts.find((e) => s.files.has(e));
      if (!imageExt) return { skip: 'missing image' };
      const out: WdsSample = { key: s.key, image: s.files.get(imageExt)!, imageExt };
      if (cap) {
        const c = fieldOf(s.files, cap);
        if (c.problem) return { skip: `missing caption (${c.problem})` };
        const text = typeof c.value === 'string' ? c.value.trim() : '';
        if (!text) return { skip: 'empty caption' };
        out.caption = text;
      }
      if (lab) {
        const c = fieldOf(s.files, lab);
        if (c.problem) return { skip: `missing class (${c.problem})` };
        const n = typeof c.value === 'number' ? c.value : Number(String(c.value).trim());
        if (!Number.isInteger(n) || n < 0) return { skip: `bad class label '${String(c.value).slice(0, 20)}'` };
        out.label = n;
      }
      return out;
    },
  };
}

/** Sample counts of shards: sizes.json (open_clip, `altclip shards`), img2dataset's *_stats.json, else a scan. */
export async function shardSizes(shards: string[], log?: (l: string) => void): Promise<number[]> {
  const byDir = new Map<string, Record<string, number>>();
  const sizesJson = (dir: string) => {
    if (!byDir.has(dir)) {
      const f = path.join(dir, 'sizes.json');
      let m: Record<string, number> = {};
      if (fs.existsSync(f)) {
        try {
          m = JSON.parse(fs.readFileSync(f, 'utf8'));
        } catch (e) {
          throw new Error(`${f}: invalid JSON (${(e as Error).message})`, { cause: e });
        }
      }
      byDir.set(dir, m);
    }
    return byDir.get(dir)!;
  };
  const out: number[] = [];
  let scanned = 0;
  for (const s of shards) {
    const base = path.basename(s);
    const known = sizesJson(path.dirname(s))[base];
    const statsFile = s.replace(/\.(tar|tar\.gz|tgz)$/i, '_stats.json');
    const stats = fs.existsSync(statsFile) ? (JSON.parse(fs.readFileSync(statsFile, 'utf8')) as { successes?: unknown }).successes : undefined;
    if (typeof known === 'number') out.push(known);
    else if (typeof stats === 'number') out.push(stats); // img2dataset: samples written to the shard
    else {
      out.push(await countSamples(s));
      scanned++;
    }
  }
  if (scanned) log?.(`webdataset: counted the samples of ${scanned} shard(s) by reading their headers (a sizes.json beside the shards skips this)`);
  return out;
}

/** Samples in a shard, from its headers (data skipped); a truncated shard counts what precedes the damage. */
export async function countSamples(shard: string): Promise<number> {
  const r = await ShardSampleReader.open(shard, () => false);
  let n = 0;
  try {
    while (await r.next()) n++;
  } catch (e) {
    if (!(e instanceof TarTruncatedError)) throw e;
  } finally {
    await r.close();
  }
  return n;
}

/** A stream record: a parsed sample, or the reason a sample position holds nothing usable. */
export type WdsRecord = WdsSample | { skip: string; key?: string };

/** A sample's place, for messages: `00003.tar sample 17 (key 000030017)`. */
export function samplePlace(units: StreamUnit[], p: { unit: number; offset: number }, key?: string): string {
  return `${path.basename(units[p.unit].name)} sample ${p.offset}${key ? ` (key ${key})` : ''}`;
}

/**
 * The usable samples among stream records; the others (no image, no caption or class, a class >= `classes`, the rest
 * of a truncated shard) are counted in `report` by reason, each named by shard, sample number and key.
 */
export function usableSamples<P extends Positioned<WdsRecord>>(
  recs: P[], units: StreamUnit[], report: ReadReport, classes?: number, onSkip?: (at: P, message: string) => void,
): { s: WdsSample; at: P }[] {
  const ok: { s: WdsSample; at: P }[] = [];
  for (const r of recs) {
    report.rows++;
    const rec = r.record;
    const told = (row: SkippedRow) => onSkip?.(r, row.reason);
    if ('skip' in rec) skipRow(report, r.offset, rec.skip.replace(/ \(.*$/, ''), `${samplePlace(units, r, rec.key)}: ${rec.skip}`, told);
    else if (classes !== undefined && !(rec.label! < classes)) skipRow(report, r.offset, 'class out of range', `${samplePlace(units, r, rec.key)}: class ${rec.label}, ${classes} class names`, told);
    else ok.push({ s: rec, at: r });
  }
  return ok;
}

/** The name of a sample's image member, for decode errors: `00003.tar:000030017.jpg`. */
export function imageMemberName(units: StreamUnit[], x: { s: WdsSample; at: { unit: number } }): string {
  return `${path.basename(units[x.at.unit].name)}:${x.s.key}.${x.s.imageExt}`;
}

/** classnames.txt beside the shards (what `altclip shards --from <class folders>` writes), if there is one. */
export function shardClassNames(spec: string | string[]): string[] | undefined {
  const first = (Array.isArray(spec) ? spec[0] : spec).split('::')[0].trim();
  const f = path.join(isShardFolder(first) ? first : path.dirname(first), 'classnames.txt');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean) : undefined;
}

/** Shards as a RecordSource for the stream: units are shards, records their samples (see stream.ts). */
export async function webDatasetSource(spec: string | string[], o: WdsSampleOptions & { log?: (l: string) => void } = {}): Promise<RecordSource<WdsRecord>> {
  const files = resolveShards(spec, o.log);
  const sizes = await shardSizes(files, o.log);
  const units: StreamUnit[] = files.map((f, i) => ({ name: f, size: sizes[i] }));
  const { want, parse } = sampleParser(o);
  return {
    units,
    open: async (unit, offset) => shardRecordReader(units[unit], offset, want, parse),
  };
}

/**
 * Reads records [offset, size) of a shard. The declared size rules: a shard that ends early (truncated, corrupt) gives
 * `{skip}` records for the rest, so every rank keeps its count; samples past the declared size are not read.
 */
async function shardRecordReader(
  unit: StreamUnit, offset: number, want: (ext: string) => boolean, parse: (s: RawSample) => WdsRecord,
): Promise<RecordReader<WdsRecord>> {
  let pos = 0;
  let broken: string | undefined;
  let reader: ShardSampleReader | undefined;
  try {
    reader = await ShardSampleReader.open(unit.name, want, offset);
  } catch (e) {
    broken = `unreadable shard (${(e as Error).message})`;
  }
  const pull = async (): Promise<RawSample | { skip: string } | null> => {
    if (pos >= unit.size) return null;
    pos++;
    if (broken) return { skip: broken };
    try {
      const s = await reader!.next();
      if (s) return s;
      broken = `shard ended after ${pos - 1} of ${unit.size} samples`;
    } catch (e) {
      broken = e instanceof TarTruncatedError ? `truncated tar (${e.message})` : `corrupt tar (${(e as Error).message})`;
    }
    return { skip: broken };
  };
  while (pos < offset && (await pull())) {
    // skipping to the resume offset: headers only
  }
  return {
    next: async () => {
      const s = await pull();
      if (!s) return null;
      if ('skip' in s) return s;
      const r = parse(s);
      return 'skip' in r ? { ...r, key: s.key } : r;
    },
    close: async () => reader?.close(),
  };
}
