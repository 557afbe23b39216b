import { isUtf8 } from 'buffer';
import * as fs from 'fs';
import * as zlib from 'zlib';

/** One line of a text file: text without the line break, 1-based number, byte offset of its first byte. */
export interface OffsetLine {
  text: string;
  line: number;
  /** Byte offset of the line in the file (in the decompressed stream for .gz). */
  offset: number;
  /** Only with invalidUtf8: 'flag', on a line that is not valid UTF-8 (its text has U+FFFD for the bad bytes). */
  invalidUtf8?: boolean;
}

/**
 * The longest line a text file may have (1 MiB): far beyond any caption, sentence or path, short enough that a file
 * without line breaks (a binary file, one endless line) fails at once instead of growing a string to the heap limit.
 */
export const MAX_LINE_BYTES = 1 << 20;

export interface LineOptions {
  /** Byte offset of a line start to read from (default 0); `firstLine` is that line's number (default 1). */
  start?: number;
  firstLine?: number;
  /** Bytes per line (default MAX_LINE_BYTES); a longer line is an error naming the file and line. */
  maxLineBytes?: number;
  /**
   * A line that is not valid UTF-8: 'throw' (default) an error naming the file and line; 'flag' yield it with
   * `invalidUtf8` set, so the caller can skip and count it instead of keeping U+FFFD.
   */
  invalidUtf8?: 'throw' | 'flag';
}

/** Read size: small enough that a chunk's lines die young (a big live batch is promoted and grows the heap). */
const CHUNK = 64 * 1024;

export function isGzip(file: string): boolean {
  return /\.t?gz$/i.test(file);
}

/** The raw bytes of a file from `start`, decompressed when the name ends in .gz (then `start` counts decompressed bytes). */
async function* fileChunks(file: string, start: number): AsyncGenerator<Buffer> {
  if (!isGzip(file)) {
    yield* fs.createReadStream(file, { start, highWaterMark: CHUNK }) as AsyncIterable<Buffer>;
    return;
  }
  // A gzip stream cannot seek: decompress from the start and drop the first `start` bytes.
  let skip = start;
  for await (const c of fs.createReadStream(file, { highWaterMark: CHUNK }).pipe(zlib.createGunzip()) as AsyncIterable<Buffer>) {
    if (skip >= c.length) {
      skip -= c.length;
      continue;
    }
    yield skip ? c.subarray(skip) : c;
    skip = 0;
  }
}

/**
 * Lines of a text file (plain or .gz) with their byte offsets, from byte `start` (a line start) on; `firstLine` is the
 * number of the line at `start`. \r\n is tolerated and a UTF-8 BOM at the file start dropped. Lines are bounded and
 * checked to be UTF-8 (LineOptions). Memory: one chunk and one line, whatever the file size.
 */
export async function* readOffsetLines(file: string, opts: LineOptions = {}): AsyncGenerator<OffsetLine> {
  for await (const batch of readOffsetLineBatches(file, opts)) yield* batch;
}

/**
 * readOffsetLines a chunk (64 KiB) at a time: one await per chunk instead of one per line, which keeps a pass over tens
 * of millions of lines fast and its garbage (and so the peak RSS) small.
 */
export async function* readOffsetLineBatches(file: string, opts: LineOptions = {}): AsyncGenerator<OffsetLine[]> {
  if (!fs.existsSync(file)) throw new Error(`file not found: ${file}`);
  const max = opts.maxLineBytes ?? MAX_LINE_BYTES;
  let offset = opts.start ?? 0;
  let line = (opts.firstLine ?? 1) - 1;
  let carry: Buffer[] = [];
  let carried = 0; // bytes in carry
  const emit = (bytes: Buffer): OffsetLine => {
    line++;
    if (bytes.length > max) throw tooLong(file, line, max);
    let text = bytes.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (offset === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const out: OffsetLine = { text, line, offset };
    if (!isUtf8(bytes)) {
      if (opts.invalidUtf8 !== 'flag') throw new Error(`${file}:${line}: not valid UTF-8 (is the file in another encoding, e.g. GBK or Latin-1? convert it with iconv)`);
      out.invalidUtf8 = true;
    }
    offset += bytes.length + 1;
    return out;
  };
  for await (const chunk of fileChunks(file, offset)) {
    const batch: OffsetLine[] = [];
    let from = 0;
    for (let nl = chunk.indexOf(10, from); nl >= 0; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl);
      batch.push(emit(carry.length ? Buffer.concat([...carry, piece]) : piece));
      carry = [];
      carried = 0;
      from = nl + 1;
    }
    if (from < chunk.length) {
      carry.push(chunk.subarray(from));
      carried += chunk.length - from;
      // Fails before the line is joined: one endless line would otherwise grow a string past the heap limit.
      if (carried > max) throw tooLong(file, line + 1, max);
    }
    if (batch.length) yield batch;
  }
  if (carry.length) yield [emit(Buffer.concat(carry))];
}

function tooLong(file: string, line: number, max: number): Error {
  return new Error(`${file}:${line}: line longer than ${max.toLocaleString('en-US')} bytes (no line break); expected one item per line, is this a text file?`);
}
