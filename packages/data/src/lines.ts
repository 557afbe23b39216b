import * as fs from 'fs';
import * as zlib from 'zlib';

/** One line of a text file: text without the line break, 1-based number, byte offset of its first byte. */
export interface OffsetLine {
  text: string;
  line: number;
  /** Byte offset of the line in the file (in the decompressed stream for .gz). */
  offset: number;
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
 * number of the line at `start`. \r\n is tolerated and a UTF-8 BOM at the file start dropped. Memory: one chunk and
 * one line, whatever the file size.
 */
export async function* readOffsetLines(file: string, opts: { start?: number; firstLine?: number } = {}): AsyncGenerator<OffsetLine> {
  for await (const batch of readOffsetLineBatches(file, opts)) yield* batch;
}

/**
 * readOffsetLines a chunk (64 KiB) at a time: one await per chunk instead of one per line, which keeps a pass over tens
 * of millions of lines fast and its garbage (and so the peak RSS) small.
 */
export async function* readOffsetLineBatches(file: string, opts: { start?: number; firstLine?: number } = {}): AsyncGenerator<OffsetLine[]> {
  if (!fs.existsSync(file)) throw new Error(`file not found: ${file}`);
  let offset = opts.start ?? 0;
  let line = (opts.firstLine ?? 1) - 1;
  let carry: Buffer[] = [];
  const emit = (bytes: Buffer): OffsetLine => {
    line++;
    let text = bytes.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (offset === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const out = { text, line, offset };
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
      from = nl + 1;
    }
    if (from < chunk.length) carry.push(chunk.subarray(from));
    if (batch.length) yield batch;
  }
  if (carry.length) yield [emit(Buffer.concat(carry))];
}
