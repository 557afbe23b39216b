import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { atomicWriteFile, decodeRaw, writeSafetensors } from '@altclip/checkpoint';

/**
 * The sharded teacher-feature cache of stage 1: `teacher-<key>/` holds fixed-size safetensors parts
 * (`part-00000.safetensors`, rowsPerPart rows each, the last one shorter; tensor `features` [rows, dim] in F32 or
 * F16) and `index.json`. Row r is the teacher feature of the corpus's r-th valid line. The key hashes the teacher,
 * the target, the max length, the vocabulary and every teacher text in order, so another corpus never gets these
 * features. Parts can be written by different processes or machines (a part range each) and joined by writing the
 * index; a part already written is kept, so an interrupted computation continues where it stopped.
 */

export type CacheDtype = 'f32' | 'f16';

export interface TeacherCacheIndex {
  format: 'altclip-teacher-cache';
  version: 1;
  key: string;
  rows: number;
  dim: number;
  dtype: CacheDtype;
  rowsPerPart: number;
  parts: { file: string; first: number; rows: number }[];
  /** What the key was made of (for people; the key is what is checked). */
  about: Record<string, string>;
}

export const INDEX_FILE = 'index.json';
export const DEFAULT_ROWS_PER_PART = 65536;

/** A running sha256 of teacher texts in row order (fed while the corpus is scanned, so no text is kept). */
export function textsHasher(): { add(text: string): void; digest(): string } {
  const h = crypto.createHash('sha256');
  return {
    add: (t) => {
      h.update(t);
      h.update('\0');
    },
    digest: () => h.digest('hex'),
  };
}

/** The cache key: teacher fingerprint, target, max length, vocabulary size, row count and the digest of every text. */
export function teacherCacheKey(fixed: { teacher: string; target: string; maxLength?: number; vocabSize: number }, textsDigest: string, rows: number): string {
  return crypto.createHash('sha256').update(`${fixed.teacher}\0${fixed.target}\0${fixed.maxLength}\0${fixed.vocabSize}\0${rows}\0${textsDigest}`).digest('hex').slice(0, 24);
}

export function partName(i: number): string {
  return `part-${String(i).padStart(5, '0')}.safetensors`;
}

export function numParts(rows: number, rowsPerPart: number): number {
  return Math.ceil(rows / rowsPerPart);
}

/** Parts [start, end) of shard i of n (`--shard i/N`): contiguous, sizes differing by at most one. */
export function partRangeOfShard(i: number, n: number, parts: number): [number, number] {
  if (!(Number.isInteger(i) && Number.isInteger(n) && n >= 1 && i >= 0 && i < n)) throw new Error(`--shard ${i}/${n}: need 0 <= i < N`);
  const at = (k: number) => k * Math.floor(parts / n) + Math.min(k, parts % n);
  return [at(i), at(i + 1)];
}

/** Reads a part's header: [rows, dim], dtype, metadata and where the data starts. */
function readPartHeader(file: string): { shape: [number, number]; dtype: 'F32' | 'F16'; start: number; meta: Record<string, string> } {
  const fd = fs.openSync(file, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (!(n > 0 && n < 1 << 20)) throw new Error(`${file}: not a teacher-cache part (header length ${n})`);
    const hb = Buffer.alloc(n);
    fs.readSync(fd, hb, 0, n, 8);
    const h = JSON.parse(hb.toString('utf8'));
    const f = h.features;
    if (!f || (f.dtype !== 'F32' && f.dtype !== 'F16') || f.shape?.length !== 2) throw new Error(`${file}: no F32/F16 'features' [rows, dim] tensor`);
    return { shape: f.shape, dtype: f.dtype, start: 8 + n + f.data_offsets[0], meta: h.__metadata__ ?? {} };
  } finally {
    fs.closeSync(fd);
  }
}

/** A written part's header, or undefined when it is missing or belongs to another key (then it is recomputed). */
function existingPart(dir: string, i: number, key: string, rows: number): ReturnType<typeof readPartHeader> | undefined {
  const f = path.join(dir, partName(i));
  if (!fs.existsSync(f)) return undefined;
  try {
    const h = readPartHeader(f);
    return h.meta.key === key && h.shape[0] === rows ? h : undefined;
  } catch {
    return undefined;
  }
}

export interface WritePartsArgs {
  dir: string;
  key: string;
  rows: number;
  rowsPerPart?: number;
  dtype?: CacheDtype;
  /** Parts [start, end) to write (default all). */
  parts?: [number, number];
  /** Teacher texts from row `first` on, in order (the corpus streamed from that row). */
  texts: (first: number) => AsyncIterable<string>;
  /** Features of a batch of texts: [n * dim] row-major, and dim. */
  compute: (texts: string[]) => Promise<{ data: Float32Array; dim: number }>;
  batchSize?: number;
  /** Features of recent texts kept to serve repeated texts without the teacher (default 64 MiB). */
  memoBytes?: number;
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
  log?: (line: string) => void;
}

/**
 * compute() behind a bounded memo of text -> feature: a corpus that repeats texts (templates, EN-EN rows, a corpus
 * copied several times) runs the teacher once per distinct text while it stays in the memo, as the single-file
 * cache's dedup did, with memory bounded by `budget` bytes instead of the number of distinct texts.
 */
function featureMemo(compute: WritePartsArgs['compute'], budget: number): { features(texts: string[]): Promise<{ data: Float32Array; dim: number }> } {
  const memo = new Map<string, Float32Array>();
  let dim = 0;
  return {
    async features(texts) {
      const todo = [...new Set(texts.filter((t) => !memo.has(t)))];
      if (todo.length) {
        const f = await compute(todo);
        dim = f.dim;
        todo.forEach((t, k) => memo.set(t, f.data.slice(k * dim, (k + 1) * dim)));
      }
      const data = new Float32Array(texts.length * dim);
      texts.forEach((t, k) => {
        const v = memo.get(t)!;
        data.set(v, k * dim);
        memo.delete(t); // most recently used last
        memo.set(t, v);
      });
      const cap = Math.max(texts.length, Math.floor(budget / (4 * Math.max(1, dim))));
      for (const k of memo.keys()) {
        if (memo.size <= cap) break;
        memo.delete(k); // least recently used first
      }
      return { data, dim };
    },
  };
}

/** Writes the missing parts of a range (one part's features in memory at a time); returns the parts written. */
export async function writeTeacherCacheParts(a: WritePartsArgs): Promise<number[]> {
  const per = a.rowsPerPart ?? DEFAULT_ROWS_PER_PART;
  const total = numParts(a.rows, per);
  const [p0, p1] = a.parts ?? [0, total];
  const rowsOf = (i: number) => Math.min(per, a.rows - i * per);
  const todo: number[] = [];
  for (let i = p0; i < Math.min(p1, total); i++) if (!existingPart(a.dir, i, a.key, rowsOf(i))) todo.push(i);
  if (todo.length === 0) return [];
  fs.mkdirSync(a.dir, { recursive: true });
  const bs = a.batchSize ?? 64;
  const grand = todo.reduce((s, i) => s + rowsOf(i), 0);
  let done = 0;
  const written: number[] = [];
  const memo = featureMemo(a.compute, a.memoBytes ?? 64 * 2 ** 20);
  let it: AsyncIterator<string> | undefined;
  let itRow = -1; // the row `it` yields next
  for (const part of todo) {
    const first = part * per;
    if (itRow !== first) {
      await it?.return?.(undefined);
      it = a.texts(first)[Symbol.asyncIterator]();
      itRow = first;
    }
    const n = rowsOf(part);
    let out: Float32Array | undefined;
    let dim = 0;
    for (let s = 0; s < n; s += bs) {
      const chunk: string[] = [];
      for (let k = 0; k < Math.min(bs, n - s); k++) {
        const r = await it!.next();
        if (r.done) throw new Error(`teacher cache: the corpus ended at row ${itRow}, expected ${a.rows} rows (did it change?)`);
        chunk.push(r.value);
        itRow++;
      }
      const f = await memo.features(chunk);
      dim = f.dim;
      out ??= new Float32Array(n * dim);
      out.set(f.data, s * dim);
      done += chunk.length;
      a.onProgress?.(done, grand);
    }
    await writeSafetensors(path.join(a.dir, partName(part)), { features: { shape: [n, dim], data: out!, dtype: a.dtype === 'f16' ? 'F16' : 'F32' } }, {
      key: a.key, first: String(first), rows: String(n), part: String(part),
    });
    written.push(part);
  }
  await it?.return?.(undefined);
  return written;
}

/** Checks that the parts cover every row with one key, dim and dtype, and writes index.json (what `merge` does). */
export async function writeTeacherCacheIndex(dir: string, a: { key: string; rows: number; rowsPerPart?: number; about?: Record<string, string> }): Promise<TeacherCacheIndex> {
  const per = a.rowsPerPart ?? DEFAULT_ROWS_PER_PART;
  const parts: TeacherCacheIndex['parts'] = [];
  let dim = 0;
  let dtype: CacheDtype | undefined;
  const missing: string[] = [];
  for (let i = 0; i < numParts(a.rows, per); i++) {
    const rows = Math.min(per, a.rows - i * per);
    const h = existingPart(dir, i, a.key, rows);
    if (!h) {
      missing.push(partName(i));
      continue;
    }
    const dt: CacheDtype = h.dtype === 'F16' ? 'f16' : 'f32';
    if ((dim && h.shape[1] !== dim) || (dtype && dt !== dtype)) throw new Error(`${path.join(dir, partName(i))}: [${h.shape}] ${dt}, other parts have dim ${dim} ${dtype}`);
    dim = h.shape[1];
    dtype = dt;
    parts.push({ file: partName(i), first: i * per, rows });
  }
  if (missing.length) throw new Error(`teacher cache ${dir}: ${missing.length} part(s) missing or written for another corpus/teacher (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}); compute them first`);
  const index: TeacherCacheIndex = { format: 'altclip-teacher-cache', version: 1, key: a.key, rows: a.rows, dim, dtype: dtype ?? 'f32', rowsPerPart: per, parts, about: a.about ?? {} };
  await atomicWriteFile(path.join(dir, INDEX_FILE), [JSON.stringify(index, null, 1) + '\n']);
  return index;
}

/** The index of a complete cache with this key, or undefined. */
export function readTeacherCacheIndex(dir: string, key: string): TeacherCacheIndex | undefined {
  const f = path.join(dir, INDEX_FILE);
  if (!fs.existsSync(f)) return undefined;
  const ix = JSON.parse(fs.readFileSync(f, 'utf8')) as TeacherCacheIndex;
  return ix.format === 'altclip-teacher-cache' && ix.key === key ? ix : undefined;
}

/**
 * Rows of a complete cache, read on demand: reads go through a small cache of row chunks, so a stream reading rows
 * nearly in order touches each part once, and memory stays at `maxBytes` whatever the cache size.
 */
export class TeacherCacheReader {
  private fds = new Map<number, { fd: number; start: number }>();
  private chunks = new Map<number, Float32Array>();
  private readonly chunkRows = 1024;
  private readonly maxChunks: number;
  constructor(readonly dir: string, readonly index: TeacherCacheIndex, maxBytes = 64 * 2 ** 20) {
    this.maxChunks = Math.max(2, Math.floor(maxBytes / (this.chunkRows * index.dim * 4)));
  }

  get dim(): number {
    return this.index.dim;
  }

  /** Bytes one row takes on disk. */
  get bytesPerRow(): number {
    return this.index.dim * (this.index.dtype === 'f16' ? 2 : 4);
  }

  private part(p: number): { fd: number; start: number } {
    let e = this.fds.get(p);
    if (!e) {
      const file = path.join(this.dir, this.index.parts[p].file);
      const h = readPartHeader(file);
      e = { fd: fs.openSync(file, 'r'), start: h.start };
      this.fds.set(p, e);
    }
    return e;
  }

  /** Feature of row r into out at `at` (dim floats). */
  rowInto(r: number, out: Float32Array, at: number): void {
    if (!(r >= 0 && r < this.index.rows)) throw new RangeError(`teacher cache row ${r} out of [0, ${this.index.rows})`);
    // Chunks are numbered within parts, so none straddles two.
    const p = Math.floor(r / this.index.rowsPerPart);
    const inPart = r - p * this.index.rowsPerPart;
    const c = p * Math.ceil(this.index.rowsPerPart / this.chunkRows) + Math.floor(inPart / this.chunkRows);
    const data = this.chunkAt(c, p, Math.floor(inPart / this.chunkRows));
    const k = inPart % this.chunkRows;
    out.set(data.subarray(k * this.index.dim, (k + 1) * this.index.dim), at);
  }

  private chunkAt(c: number, p: number, cInPart: number): Float32Array {
    const hit = this.chunks.get(c);
    if (hit) {
      this.chunks.delete(c);
      this.chunks.set(c, hit);
      return hit;
    }
    const ix = this.index;
    const inPart = cInPart * this.chunkRows;
    const rows = Math.min(this.chunkRows, ix.parts[p].rows - inPart);
    const { fd, start } = this.part(p);
    const buf = Buffer.alloc(rows * this.bytesPerRow);
    fs.readSync(fd, buf, 0, buf.length, start + inPart * this.bytesPerRow);
    const data = decodeRaw(ix.parts[p].file, 'features', ix.dtype === 'f16' ? 'F16' : 'F32', [rows, ix.dim], buf, true).data as Float32Array;
    this.chunks.set(c, data);
    if (this.chunks.size > this.maxChunks) this.chunks.delete(this.chunks.keys().next().value!);
    return data;
  }

  /** Every row in one array (the in-memory distillation path). */
  readAll(): Float32Array {
    const out = new Float32Array(this.index.rows * this.index.dim);
    for (let r = 0; r < this.index.rows; r++) this.rowInto(r, out, r * this.index.dim);
    return out;
  }

  close(): void {
    for (const { fd } of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
    this.chunks.clear();
  }
}
