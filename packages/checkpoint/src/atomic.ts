import * as fs from 'fs';
import * as path from 'path';

/**
 * Writes `chunks` to `file` through a temp file in the same directory, fsyncs it and renames it into place, so a
 * crash leaves either the old file or the new one, never a half-written one.
 */
export async function atomicWriteFile(file: string, chunks: Array<Buffer | Uint8Array | string>): Promise<void> {
  const dir = path.dirname(file);
  await fs.promises.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Date.now()}`);
  const fh = await fs.promises.open(tmp, 'w');
  try {
    for (const c of chunks) await fh.write(typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await fs.promises.rename(tmp, file);
}
