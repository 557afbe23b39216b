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

/** fs.Stats, or undefined where nothing is (also when a parent on the way is a file: ENOTDIR). */
function statOrNone(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/**
 * What would make `p` fail as an output `kind` (a file to write, or a folder to create or fill), checked before any
 * work so a long run does not end in ENOTDIR/EISDIR/EEXIST at its last rename: an existing folder where a file goes
 * (or a file where a folder goes), or a file standing where a parent folder must be.
 */
export function outputProblem(p: string, kind: 'file' | 'folder'): string | undefined {
  const abs = path.resolve(p);
  const st = statOrNone(abs);
  if (st && kind === 'file' && st.isDirectory()) return `${p} is a folder; give a file name`;
  if (st && kind === 'folder' && !st.isDirectory()) return `${p} is a file; give a folder`;
  if (st) return undefined;
  for (let dir = path.dirname(abs); ; dir = path.dirname(dir)) {
    const d = statOrNone(dir);
    if (d) return d.isDirectory() ? undefined : `${dir} is a file, so ${p} cannot be created under it`;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Throws `<flag> <problem>` when `p` cannot be an output of that kind (see outputProblem). */
export function assertOutput(p: string, kind: 'file' | 'folder', flag: string): void {
  const why = outputProblem(p, kind);
  if (why) throw new Error(`${flag}: ${why}`);
}
