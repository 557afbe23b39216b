import * as fs from 'fs';
import * as path from 'path';

export type Chunk = Buffer | Uint8Array | string;

/** The temp file atomicWrite writes `file` through: dot-prefixed beside it, `.NAME.tmp-PID-RAND`. */
const TEMP_NAME = /^\..+\.tmp-(\d+)-[a-z0-9]+$/;

/** Bytes as MiB with one decimal, the unit checkpoint sizes are talked about in. */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Errors that mean the file system is full (or the user's quota, or the file size limit, is reached). */
export function isNoSpaceError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

/** Free bytes for unprivileged users on the file system holding `dir` (undefined where statfs fails). */
export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await fs.promises.statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** Syscalls on the temp file's handle; an error from any other (a lazy tensor reading its source) is not ours to name. */
const WRITE_SYSCALLS = new Set(['write', 'writev', 'fsync', 'fdatasync', 'close']);

/**
 * An fs error raised while writing `file` (through its temp file), rewritten to name the file: Node's own message for
 * a write on a file handle is "ENOSPC: no space left on device, write", which names nothing. Says how far the write
 * got and, for a full disk, the free space left. Other errors (the writer's own) are returned as they are.
 */
async function writeFailure(e: unknown, file: string, fh: fs.promises.FileHandle, expected: number | undefined): Promise<unknown> {
  const err = e as NodeJS.ErrnoException;
  // Duck-typed: errors from Node's fs are not `instanceof Error` of another realm (jest's vm contexts).
  if (typeof err?.message !== 'string' || typeof err.code !== 'string' || !WRITE_SYSCALLS.has(err.syscall ?? '')) return e;
  const written = await fh.stat().then((s) => s.size, () => undefined);
  const parts: string[] = [];
  if (written !== undefined) parts.push(`${mib(written)}${expected !== undefined ? ` of ${mib(expected)}` : ''} written`);
  if (isNoSpaceError(err)) {
    const free = await freeBytes(path.dirname(file));
    if (free !== undefined) parts.push(`${mib(free)} free on that file system`);
  }
  const message = `${err.message} while writing ${file}${parts.length ? ` (${parts.join('; ')})` : ''}`;
  return Object.assign(new Error(message), { code: err.code, errno: err.errno, syscall: err.syscall, path: file, cause: e });
}

export interface AtomicWriteOptions {
  /** The file's final size, when known: an error then says how much of it was written. */
  expectedBytes?: number;
}

/**
 * Runs `write` against a temp file in the same directory as `file`, fsyncs it and renames it into place, so a crash
 * or a throw leaves either the old file or the new one, never a half-written one (and no temp file behind; a kill -9
 * leaves the temp file, which removeStaleTempFiles clears later). fs errors of the write name `file`.
 */
export async function atomicWrite(file: string, write: (fh: fs.promises.FileHandle) => Promise<void>, opts: AtomicWriteOptions = {}): Promise<void> {
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
    const named = await writeFailure(e, file, fh, opts.expectedBytes);
    await fh.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw named;
  }
  try {
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

/** Whether process `pid` runs on this host (EPERM: it exists, owned by another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the atomicWrite temp files in `dir` (not below it) whose writing process no longer runs: what a kill -9
 * or a power cut during a write leaves. Returns the paths removed.
 */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    fs.rmSync(path.join(dir, name), { force: true });
    removed.push(path.join(dir, name));
  }
  return removed;
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
