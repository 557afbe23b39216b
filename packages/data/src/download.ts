import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { extractTarGz } from './tar';
import { CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES, CIFAR_RECORD_BYTES } from './cifar10';

export const CIFAR10_BINARY = {
  url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
  archive: 'cifar-10-binary.tar.gz',
  md5: 'c32a1d4ab5d03f1284b67883e8d87530',
  size: 170_052_171,
  folder: 'cifar-10-batches-bin',
};

export interface DownloadOptions {
  /** Overrides for mirrors and tests. */
  url?: string;
  md5?: string;
  size?: number;
  onProgress?: (done: number, total: number) => void;
  /** Network timeout for the first byte, ms. */
  timeoutMs?: number;
}

function offlineHelp(dir: string): string {
  return (
    `download it by hand from ${CIFAR10_BINARY.url} (md5 ${CIFAR10_BINARY.md5}, ${CIFAR10_BINARY.size} bytes), ` +
    `unpack it (tar xzf ${CIFAR10_BINARY.archive}) and pass the local folder holding data_batch_1..5.bin / test_batch.bin ` +
    `(e.g. --data ${path.join(dir, CIFAR10_BINARY.folder)})`
  );
}

function isComplete(folder: string): boolean {
  const expected = 10000 * CIFAR_RECORD_BYTES;
  return [...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES].every((f) => {
    const p = path.join(folder, f);
    return fs.existsSync(p) && fs.statSync(p).size === expected;
  }) && fs.existsSync(path.join(folder, 'batches.meta.txt'));
}

/** md5 and size of a file, streamed. */
export async function fileDigest(file: string, algo = 'md5'): Promise<{ digest: string; size: number }> {
  const h = crypto.createHash(algo);
  let size = 0;
  for await (const c of fs.createReadStream(file)) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: h.digest('hex'), size };
}

/**
 * Downloads the official CIFAR-10 binary archive into dir (checked against its md5 and size), unpacks it and
 * returns the folder holding the .bin files (dir/cifar-10-batches-bin). Does nothing if that folder is already
 * complete; reuses an already downloaded archive when its checksum matches. Offline it fails with a message that
 * says how to pass a local folder instead.
 */
export async function downloadCifar10(dir: string, opts: DownloadOptions = {}): Promise<string> {
  const url = opts.url ?? CIFAR10_BINARY.url;
  const md5 = opts.md5 ?? CIFAR10_BINARY.md5;
  const size = opts.size ?? CIFAR10_BINARY.size;
  const folder = path.join(dir, CIFAR10_BINARY.folder);
  if (opts.url === undefined && isComplete(folder)) return folder;
  fs.mkdirSync(dir, { recursive: true });
  const archive = path.join(dir, CIFAR10_BINARY.archive);

  let have = false;
  if (fs.existsSync(archive)) {
    const d = await fileDigest(archive);
    have = d.digest === md5 && d.size === size;
  }
  if (!have) {
    const tmp = `${archive}.part`;
    let res: Response;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), opts.timeoutMs ?? 30000);
    try {
      res = await fetch(url, { signal: ctl.signal });
    } catch (e) {
      // fetch (undici) wraps the socket error: its code (ENOTFOUND, ECONNREFUSED) is on the cause.
      const why = ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (e as Error).message;
      throw new Error(`could not download CIFAR-10 from ${url} (${why}); you seem to be offline: ${offlineHelp(dir)}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok || !res.body) throw new Error(`could not download CIFAR-10 from ${url}: HTTP ${res.status}; ${offlineHelp(dir)}`);
    const h = crypto.createHash('md5');
    const fd = fs.openSync(tmp, 'w');
    let done = 0;
    let lastReport = 0;
    try {
      for await (const chunk of res.body) {
        h.update(chunk);
        fs.writeSync(fd, chunk);
        done += chunk.length;
        if (opts.onProgress && (done - lastReport > 4 << 20 || done === size)) {
          opts.onProgress(done, size);
          lastReport = done;
        }
      }
    } catch (e) {
      throw new Error(`CIFAR-10 download from ${url} broke off after ${done} bytes (${(e as Error).message}); run again or ${offlineHelp(dir)}`, { cause: e });
    } finally {
      fs.closeSync(fd);
    }
    const got = h.digest('hex');
    if (done !== size || got !== md5) {
      fs.rmSync(tmp, { force: true });
      throw new Error(`CIFAR-10 archive from ${url} failed its check: ${done} bytes (expected ${size}), md5 ${got} (expected ${md5}); the file was deleted`);
    }
    fs.renameSync(tmp, archive);
  }
  await extractTarGz(archive, dir);
  if (!fs.existsSync(folder)) throw new Error(`${archive}: unpacked, but it has no ${CIFAR10_BINARY.folder}/ folder`);
  return folder;
}
