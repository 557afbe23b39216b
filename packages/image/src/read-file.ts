/**
 * Reading an image file with a size bound. fs.readFile on /dev/zero (or a FIFO fed forever) grows until memory runs
 * out; a file larger than any image the pixel limit allows is refused before it is read.
 */
import * as fs from 'fs';
import { ImageError } from './types';

/** What Node reads into one Buffer (fs.readFile's own limit). */
const READ_LIMIT = 2 ** 31 - 1;
/** Room for metadata (EXIF, ICC profiles, XMP, embedded thumbnails) beside the pixels. */
const METADATA_BYTES = 16 * 2 ** 20;
const CHUNK = 8 << 20;

/**
 * The largest image file accepted under a pixel limit: no format stores more than its pixels uncompressed at 16-bit
 * RGBA (8 bytes each), plus metadata. With no pixel limit (0), what Node can read in one piece (2 GiB).
 */
export function maxImageFileBytes(maxPixels: number): number {
  return maxPixels > 0 ? Math.min(READ_LIMIT, maxPixels * 8 + METADATA_BYTES) : READ_LIMIT;
}

const KIND: Array<[(s: fs.Stats) => boolean, string]> = [
  [(s) => s.isDirectory(), 'a directory'],
  [(s) => s.isCharacterDevice(), 'a character device'],
  [(s) => s.isBlockDevice(), 'a block device'],
];

/** Throws for what cannot be an image file: a directory, a device (/dev/zero), a regular file over the limit. */
function checkStat(file: string, st: fs.Stats, limit: number): void {
  for (const [is, what] of KIND) if (is(st)) throw new ImageError(`cannot read image ${file}: it is ${what}, not an image file`, file);
  if (st.isFile() && st.size > limit) throw tooLarge(file, `is ${st.size.toLocaleString('en-US')} bytes`, limit);
}

function tooLarge(file: string, what: string, limit: number): ImageError {
  return new ImageError(
    `cannot read image ${file}: it ${what}, more than the ${limit.toLocaleString('en-US')} bytes any image file under the pixel limit can have (raise it with --max-pixels)`,
    file,
  );
}

function readError(file: string, e: unknown): ImageError {
  return e instanceof ImageError ? e : new ImageError(`cannot read image ${file}: ${(e as Error).message}`, file);
}

/**
 * The reading loop of both versions: yields a buffer to fill, takes the bytes read (0 at the end), returns the file.
 * A regular file is read at once (its size + 1, to see it grew), FIFOs and the rest in chunks, all up to `limit`.
 */
function* collect(file: string, st: fs.Stats, limit: number): Generator<Buffer, Buffer, number> {
  const parts: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(st.isFile() && total === 0 ? st.size + 1 : CHUNK);
    const n = yield buf;
    if (n === 0) break;
    total += n;
    if (total > limit) throw tooLarge(file, `holds over ${total.toLocaleString('en-US')} bytes`, limit);
    parts.push(buf.subarray(0, n));
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
}

/** Reads an image file (a regular file, or a FIFO / socket read up to the bound) for a pixel limit (0: none). */
export async function readImageFile(file: string, maxPixels: number): Promise<Buffer> {
  const limit = maxImageFileBytes(maxPixels);
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(file, 'r');
    const st = await fh.stat();
    checkStat(file, st, limit);
    const chunks = collect(file, st, limit);
    let next = chunks.next();
    while (!next.done) next = chunks.next((await fh.read(next.value, 0, next.value.length, null)).bytesRead);
    return next.value;
  } catch (e) {
    throw readError(file, e);
  } finally {
    await fh?.close();
  }
}

/** readImageFile in one blocking call (the pool's workers: each fs.promises call is a thread-pool round trip). */
export function readImageFileSync(file: string, maxPixels: number): Buffer {
  const limit = maxImageFileBytes(maxPixels);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const st = fs.fstatSync(fd);
    checkStat(file, st, limit);
    const chunks = collect(file, st, limit);
    let next = chunks.next();
    while (!next.done) next = chunks.next(fs.readSync(fd, next.value, 0, next.value.length, null));
    return next.value;
  } catch (e) {
    throw readError(file, e);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
