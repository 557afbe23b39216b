import * as fs from 'fs';
import * as zlib from 'zlib';
import { isGzip } from './lines';
import { BLOCK, entryType, metaKind, metaName, parseTarHeader, TarEntry } from './tar';

/** Bytes of a file read front to back: positioned reads for a plain file, a gunzip stream for .gz. */
interface ByteSource {
  /** Up to n bytes (fewer only at the end of the data). */
  read(n: number): Promise<Buffer>;
  /** Skips n bytes; returns how many there were (fewer only at the end of the data). */
  skip(n: number): Promise<number>;
  close(): Promise<void>;
}

const CHUNK = 1 << 20;

class PlainSource implements ByteSource {
  private buf: Buffer = Buffer.alloc(0);
  private bufPos = 0;
  constructor(private fh: fs.promises.FileHandle, private pos: number, private size: number) {}
  async read(n: number): Promise<Buffer> {
    if (this.buf.length - this.bufPos >= n) {
      const out = this.buf.subarray(this.bufPos, this.bufPos + n);
      this.bufPos += n;
      return out;
    }
    const have = this.buf.subarray(this.bufPos);
    const want = Math.max(CHUNK, n - have.length);
    const fresh = Buffer.allocUnsafe(want);
    const { bytesRead } = await this.fh.read(fresh, 0, want, this.pos);
    this.pos += bytesRead;
    this.buf = have.length ? Buffer.concat([have, fresh.subarray(0, bytesRead)]) : fresh.subarray(0, bytesRead);
    this.bufPos = Math.min(n, this.buf.length);
    // A copy when it is small: a 1 MiB read buffer must not stay alive for one 20-byte caption.
    const out = this.buf.subarray(0, this.bufPos);
    return out.length < 4096 ? Buffer.from(out) : out;
  }
  async skip(n: number): Promise<number> {
    const inBuf = this.buf.length - this.bufPos;
    if (n <= inBuf) {
      this.bufPos += n;
      return n;
    }
    const seek = Math.min(n - inBuf, Math.max(0, this.size - this.pos)); // a seek: skipped data is never read
    this.pos += seek;
    this.buf = Buffer.alloc(0);
    this.bufPos = 0;
    return inBuf + seek;
  }
  close(): Promise<void> {
    return this.fh.close();
  }
}

class GzipSource implements ByteSource {
  private it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private stream: fs.ReadStream;
  constructor(file: string) {
    this.stream = fs.createReadStream(file, { highWaterMark: CHUNK });
    this.it = (this.stream.pipe(zlib.createGunzip()) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [this.buf];
    let have = this.buf.length;
    while (have < n) {
      const r = await this.it.next();
      if (r.done) break;
      parts.push(r.value);
      have += r.value.length;
    }
    const all = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    this.buf = all.subarray(Math.min(n, all.length));
    return Buffer.from(all.subarray(0, Math.min(n, all.length)));
  }
  async skip(n: number): Promise<number> {
    let done = 0;
    while (done < n) {
      const part = await this.read(Math.min(n - done, CHUNK));
      if (part.length === 0) break;
      done += part.length;
    }
    return done;
  }
  async close(): Promise<void> {
    this.stream.destroy();
    await this.it.return?.();
  }
}

/** One tar member: its name, size and the offset of its first header (GNU/pax name headers included). */
export interface TarMember extends TarEntry {
  offset: number;
}

/** The archive ends before a member's data does (an interrupted download or copy). */
export class TarTruncatedError extends Error {
  constructor(readonly file: string, readonly member: string) {
    super(`${file}: archive truncated inside '${member}'`);
    this.name = 'TarTruncatedError';
  }
}

/**
 * Reads a .tar or .tar.gz member by member, pulling (the caller decides when the next member is read, so memory is one
 * member). Each member's data must be taken with data() or left, in which case next() skips it (a seek for .tar).
 * `start`: the offset of a member header to begin at (a .tar seeks there; a .tar.gz decompresses up to it).
 */
export class TarFileReader {
  private offset: number;
  private pendingData = 0; // data bytes of the current member not read yet
  private pendingPad = 0;
  private current: TarMember | null = null;
  private index = 0;
  private constructor(readonly file: string, private src: ByteSource, start: number) {
    this.offset = start;
  }

  static async open(file: string, start = 0): Promise<TarFileReader> {
    if (isGzip(file)) {
      const src = new GzipSource(file);
      if ((await src.skip(start)) < start) throw new TarTruncatedError(file, `data before byte ${start}`);
      return new TarFileReader(file, src, start);
    }
    const fh = await fs.promises.open(file, 'r');
    return new TarFileReader(file, new PlainSource(fh, start, (await fh.stat()).size), start);
  }

  private async take(n: number, member: string): Promise<Buffer> {
    const b = await this.src.read(n);
    if (b.length < n) throw new TarTruncatedError(this.file, member);
    this.offset += n;
    return b;
  }

  /** The next file or other member (metadata entries folded in), or null at the end of the archive. */
  async next(): Promise<TarMember | null> {
    if (this.current) {
      const n = this.pendingData + this.pendingPad;
      if ((await this.src.skip(n)) < n) throw new TarTruncatedError(this.file, this.current.name);
      this.offset += n;
      this.current = null;
    }
    let longName: string | undefined;
    const start = this.offset;
    for (;;) {
      const h = await this.src.read(BLOCK);
      if (h.length === 0) return null; // no end-of-archive blocks: tolerated, as GNU tar does
      if (h.length < BLOCK) throw new TarTruncatedError(this.file, `header after entry ${this.index}`);
      this.offset += BLOCK;
      if (h.every((b) => b === 0)) return null;
      let hd;
      try {
        hd = parseTarHeader(h, this.index);
      } catch (e) {
        throw new Error(`${this.file}: ${(e as Error).message} (byte ${this.offset - BLOCK})`, { cause: e });
      }
      const pad = (BLOCK - (hd.size % BLOCK)) % BLOCK;
      const meta = metaKind(hd.typeflag);
      if (meta) {
        const body = await this.take(hd.size, `${meta} header`);
        await this.take(pad, `${meta} header`);
        longName = metaName(meta, body) ?? longName;
        continue;
      }
      this.index++;
      this.current = { name: longName ?? hd.name, size: hd.size, type: entryType(hd.typeflag), offset: start };
      this.pendingData = hd.size;
      this.pendingPad = pad;
      return this.current;
    }
  }

  /** The data of the member next() returned (once). */
  async data(): Promise<Buffer> {
    if (!this.current) throw new Error('TarFileReader.data(): no current member');
    const name = this.current.name;
    const b = await this.take(this.pendingData, name);
    await this.take(this.pendingPad, name);
    this.pendingData = 0;
    this.pendingPad = 0;
    this.current = null;
    return b;
  }

  close(): Promise<void> {
    return this.src.close();
  }
}
