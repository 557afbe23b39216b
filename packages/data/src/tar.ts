import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { Readable } from 'stream';

/** One entry of a ustar/GNU tar archive. */
export interface TarEntry {
  name: string;
  size: number;
  type: 'file' | 'dir' | 'other';
}

export const BLOCK = 512;

function field(h: Buffer, off: number, len: number): string {
  const s = h.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function octal(h: Buffer, off: number, len: number, what: string): number {
  // GNU base-256 encoding for large sizes: high bit set in the first byte.
  if (h[off] & 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + h[i];
    return v;
  }
  const s = field(h, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`tar: bad ${what} field '${s}'`);
  return parseInt(s, 8);
}

/** The fields of one 512-byte tar header that readers use; the checksum is verified (`index` names the entry). */
export function parseTarHeader(h: Buffer, index: number): { name: string; size: number; typeflag: string } {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  const stored = octal(h, 148, 8, 'checksum');
  if (sum !== stored) throw new Error(`tar: header checksum mismatch at entry ${index} (archive corrupt or not a tar file)`);
  const size = octal(h, 124, 12, 'size');
  const typeflag = String.fromCharCode(h[156] || 48);
  const prefix = field(h, 345, 155);
  let name = field(h, 0, 100);
  if (prefix && h.subarray(257, 262).toString() === 'ustar') name = `${prefix}/${name}`;
  return { name, size, typeflag };
}

export function entryType(typeflag: string): TarEntry['type'] {
  return typeflag === '0' || typeflag === '\0' ? 'file' : typeflag === '5' ? 'dir' : 'other';
}

/** Which metadata entry a typeflag starts: a GNU long name ('L') or a pax header ('x'), else null. */
export function metaKind(typeflag: string): 'gnu-longname' | 'pax' | null {
  return typeflag === 'L' ? 'gnu-longname' : typeflag === 'x' ? 'pax' : null;
}

/** The name a metadata entry gives the next entry (undefined: a pax header without `path`). */
export function metaName(kind: 'gnu-longname' | 'pax', body: Buffer): string | undefined {
  if (kind === 'gnu-longname') return field(body, 0, body.length);
  const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
  return m ? m[1] : undefined;
}

/**
 * Minimal streaming tar reader (ustar + GNU long names + pax path): calls onEntry for each entry and feeds file
 * contents to the writer it returns (or skips them). Handles data arriving in arbitrary chunks.
 */
export async function readTar(
  stream: AsyncIterable<Buffer>,
  onEntry: (e: TarEntry) => ((chunk: Buffer) => void | Promise<void>) | null,
  onEnd?: (e: TarEntry) => void | Promise<void>,
): Promise<number> {
  let pending: Buffer = Buffer.alloc(0);
  let entry: TarEntry | null = null;
  let sink: ((c: Buffer) => void | Promise<void>) | null = null;
  let remaining = 0; // content bytes left in the current entry
  let padding = 0; // bytes to skip after the content
  let longName: string | null = null;
  let meta: 'gnu-longname' | 'pax' | null = null;
  let metaBuf: Buffer[] = [];
  let count = 0;
  let ended = false;

  for await (const chunk of stream) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let pos = 0;
    while (!ended) {
      if (remaining > 0) {
        const take = Math.min(remaining, pending.length - pos);
        if (take === 0) break;
        const part = pending.subarray(pos, pos + take);
        if (meta) metaBuf.push(Buffer.from(part));
        else if (sink) await sink(part);
        pos += take;
        remaining -= take;
        if (remaining > 0) break;
      }
      if (entry && remaining === 0) {
        if (meta) longName = metaName(meta, Buffer.concat(metaBuf)) ?? longName;
        else if (onEnd) await onEnd(entry);
        entry = null;
        sink = null;
      }
      if (padding > 0) {
        const skip = Math.min(padding, pending.length - pos);
        pos += skip;
        padding -= skip;
        if (padding > 0) break;
      }
      if (pending.length - pos < BLOCK) break;
      const h = pending.subarray(pos, pos + BLOCK);
      pos += BLOCK;
      if (h.every((b) => b === 0)) {
        ended = true; // end-of-archive marker
        break;
      }
      const hd = parseTarHeader(h, count);
      const { size, typeflag } = hd;
      let name = hd.name;
      if (longName !== null) {
        name = longName;
        longName = null;
      }
      remaining = size;
      padding = (BLOCK - (size % BLOCK)) % BLOCK;
      metaBuf = [];
      meta = metaKind(typeflag);
      entry = { name, size, type: entryType(typeflag) };
      if (!meta) {
        count++;
        sink = onEntry(entry);
      }
      if (size === 0 && !meta && onEnd) {
        await onEnd(entry);
        entry = null;
      }
    }
    pending = pending.subarray(pos);
    if (ended) break;
  }
  if (remaining > 0) throw new Error(`tar: archive truncated inside '${entry?.name}'`);
  return count;
}

/**
 * Extracts a .tar.gz (or .tar) into destDir. Entry names are checked so nothing escapes destDir.
 * Files are written to NAME.part and renamed when complete, so an interrupted run leaves no half file.
 */
export async function extractTarGz(archive: string, destDir: string, opts: { filter?: (name: string) => boolean } = {}): Promise<string[]> {
  const root = path.resolve(destDir);
  const raw = fs.createReadStream(archive);
  const stream: Readable = archive.endsWith('.tar') ? raw : raw.pipe(zlib.createGunzip());
  const written: string[] = [];
  let out: { fd: number; tmp: string; dest: string } | null = null;
  await readTar(
    stream as AsyncIterable<Buffer>,
    (e) => {
      const dest = path.resolve(root, e.name);
      if (dest !== root && !dest.startsWith(root + path.sep)) throw new Error(`tar: entry '${e.name}' would be written outside ${root}`);
      if (e.type === 'dir') {
        fs.mkdirSync(dest, { recursive: true });
        return null;
      }
      if (e.type !== 'file' || (opts.filter && !opts.filter(e.name))) return null;
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      const tmp = `${dest}.part`;
      out = { fd: fs.openSync(tmp, 'w'), tmp, dest };
      return (chunk) => {
        fs.writeSync(out!.fd, chunk);
      };
    },
    () => {
      if (!out) return;
      fs.closeSync(out.fd);
      fs.renameSync(out.tmp, out.dest);
      written.push(out.dest);
      out = null;
    },
  );
  return written;
}

/** A ustar header for a regular file (names up to 100 bytes, or split at a '/' into prefix + name up to 255). */
export function tarHeader(name: string, size: number, mtime = 0): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 1);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(base) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`tar: member name too long for ustar: ${name}`);
  }
  const put = (s: string, off: number, len: number) => h.write(s, off, len, 'utf8');
  const oct = (v: number, off: number, len: number) => put(v.toString(8).padStart(len - 1, '0') + '\0', off, len);
  put(base, 0, 100);
  oct(0o644, 100, 8);
  oct(0, 108, 8);
  oct(0, 116, 8);
  oct(size, 124, 12);
  oct(Math.floor(mtime), 136, 12);
  h.fill(32, 148, 156); // checksum field counts as spaces while summing
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put(prefix, 345, 155);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

/** One member as tar bytes: header, data, zero padding to the block size. */
export function tarMember(name: string, data: Buffer, mtime = 0): Buffer[] {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return [tarHeader(name, data.length, mtime), data, Buffer.alloc(pad)];
}

/** The end-of-archive marker: two zero blocks. */
export const TAR_END = Buffer.alloc(2 * BLOCK);
