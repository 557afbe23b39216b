import * as fs from 'fs';
import * as path from 'path';

export type Chunk = Buffer | Uint8Array | string;

/**
 * Runs `write` against a temp file in the same directory as `file`, fsyncs it and renames it into place, so a crash
 * or a throw leaves either the old file or the new one, never a half-written one (and no temp file behind).
 */
export async function atomicWrite(file: string, write: (fh: fs.promises.FileHandle) => Promise<void>): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  await fs.promises.mkdir(dir, { recursive: true });
  const rand = Math.random().toString(36).slice(2, 8);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${rand}`);
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await write(fh);
    await fh.sync();
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  try {
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

/** fs calls are made in pieces of this size: single multi-hundred-MB reads/writes measured several times slower. */
const IO_CHUNK = 64 << 20;

/** Writes all bytes of `data`, looping over short writes (large buffers are written in pieces). */
export async function writeAll(fh: fs.promises.FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, Math.min(data.length - off, IO_CHUNK));
    off += bytesWritten;
  }
}

/** Writes `chunks` (produced lazily if an (async) iterable is given) atomically; see atomicWrite. */
export async function atomicWriteFile(file: string, chunks: Iterable<Chunk> | AsyncIterable<Chunk>): Promise<void> {
  await atomicWrite(file, async (fh) => {
    for await (const c of chunks as AsyncIterable<Chunk>) await writeAll(fh, typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
  });
}

/** Reads up to `length` bytes at `position` into a fresh buffer (in pieces; a single fs read is limited to 2 GiB). */
export async function readExactly(fh: fs.promises.FileHandle, length: number, position: number): Promise<{ buf: Buffer; got: number }> {
  const buf = Buffer.allocUnsafeSlow(length); // never pooled: decoded tensors may be views of it
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, Math.min(length - got, IO_CHUNK), position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return { buf, got };
}
