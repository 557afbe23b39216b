import * as crypto from 'crypto';
import * as fs from 'fs';
import { DownloadProgress } from './settings';
import { errorFor, fetchWithTimeout, HubError, RequestContext } from './http';

export interface BlobDownload {
  url: string;
  /** Partial bytes live here (<blob>.incomplete) and are resumed from on the next try or run. */
  incomplete: string;
  dest: string;
  /** Request headers (no token when the URL is off the Hub). */
  headers: Record<string, string>;
  size?: number;
  /** Expected sha256 (hex) of the whole file: the etag of an LFS file. */
  sha256?: string;
  label: string;
  onProgress?: (p: DownloadProgress) => void;
  /** Connection drops survived within this call, each resuming where the last stopped (default 5). */
  retries?: number;
  ctx: RequestContext;
}

const FLUSH_BYTES = 4 << 20;

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

async function hashPrefix(file: string, bytes: number): Promise<crypto.Hash> {
  const h = crypto.createHash('sha256');
  if (bytes > 0) for await (const c of fs.createReadStream(file, { start: 0, end: bytes - 1 })) h.update(c as Buffer);
  return h;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/**
 * Downloads `url` into `incomplete`, resuming from its current length with a Range request (a server that answers
 * 200 instead of 206 gets the file from the start), retrying broken transfers, then checks size and sha256 and
 * renames it to `dest`. A failed check deletes the partial file, since resuming it would repeat the error.
 */
export async function downloadBlob(d: BlobDownload): Promise<void> {
  const retries = d.retries ?? 5;
  let hash: crypto.Hash | undefined;
  let hashed = -1;
  for (let attempt = 0; ; attempt++) {
    let have = fileSize(d.incomplete);
    if (d.size !== undefined && have > d.size) {
      fs.rmSync(d.incomplete, { force: true });
      have = 0;
    }
    if (d.size !== undefined && have === d.size && have > 0) break;
    const headers: Record<string, string> = { ...d.headers, 'accept-encoding': 'identity' };
    if (have > 0) headers.range = `bytes=${have}-`;
    const res = await fetchWithTimeout(d.url, { headers, redirect: 'follow' }, d.ctx.timeoutMs ?? 30000, d.ctx);
    if (res.status === 416) {
      // Range past the end: the partial file is not a prefix of this one.
      await res.body?.cancel();
      fs.rmSync(d.incomplete, { force: true });
      if (attempt >= retries) throw new HubError('http', `${d.label}: the server refused to resume (HTTP 416) ${attempt + 1} times`);
      continue;
    }
    if (!res.ok || !res.body) throw errorFor(res, d.ctx);
    if (have > 0 && res.status !== 206) have = 0;
    if (hashed !== have) {
      hash = await hashPrefix(d.incomplete, have);
      hashed = have;
    }
    const fh = await fs.promises.open(d.incomplete, have > 0 ? 'a' : 'w');
    let done = have;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (!pendingBytes) return;
      const buf = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await fh.write(buf);
      hash!.update(buf);
      hashed += buf.length;
    };
    let broke: Error | undefined;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
        pendingBytes += chunk.length;
        done += chunk.length;
        if (pendingBytes >= FLUSH_BYTES) await flush();
        d.onProgress?.({ label: d.label, done, total: d.size });
      }
    } catch (e) {
      broke = e as Error;
    } finally {
      // Bytes received before a break are good: keep them for the resume.
      await flush();
      await fh.close();
    }
    if (!broke && d.size !== undefined && done < d.size) broke = new Error(`ended at ${done} of ${d.size} bytes`);
    if (!broke) break;
    if (attempt >= retries)
      throw new HubError('network', `${d.label}: download broke off at ${formatBytes(done)} (${(broke as any).cause?.code ?? broke.message}); run again to resume from ${d.incomplete}`);
    await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
  }
  const got = fileSize(d.incomplete);
  if (hashed !== got) {
    hash = await hashPrefix(d.incomplete, got);
    hashed = got;
  }
  const digest = hash!.digest('hex');
  if ((d.size !== undefined && got !== d.size) || (d.sha256 !== undefined && digest !== d.sha256)) {
    fs.rmSync(d.incomplete, { force: true });
    throw new HubError(
      'integrity',
      `${d.label}: the downloaded file failed its check: ${got} bytes (expected ${d.size ?? 'any'}), sha256 ${digest}` +
        `${d.sha256 ? ` (expected ${d.sha256}, the Hub's LFS etag)` : ''}; the partial file was deleted, run again`,
    );
  }
  fs.renameSync(d.incomplete, d.dest);
}

/** A stderr progress bar: redrawn in place on a TTY, otherwise a line at the start, every 15 s and at the end. */
export function stderrProgress(): (p: DownloadProgress) => void {
  const tty = process.stderr.isTTY;
  let label = '';
  let start = 0;
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (p.label !== label) {
      label = p.label;
      start = now;
      last = 0;
    }
    const final = p.total !== undefined && p.done >= p.total;
    if (!final && now - last < (tty ? 200 : 15000)) return;
    last = now;
    const rate = p.done / Math.max((now - start) / 1000, 1e-3);
    const pct = p.total ? `${((100 * p.done) / p.total).toFixed(0).padStart(3)}% ` : '';
    const line = `${p.label}: ${pct}${formatBytes(p.done)}${p.total ? `/${formatBytes(p.total)}` : ''}, ${formatBytes(rate)}/s`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else process.stderr.write(line + '\n');
  };
}
