import * as crypto from 'crypto';
import * as fs from 'fs';
import { DownloadProgress } from './settings';
import { errorFor, HubError } from './http';
import { BodyStalled, DEFAULT_TIMEOUT_MS, discard, hubFetch, HubResponse, readBody, RequestContext } from './request';

export interface BlobDownload {
  url: string;
  /** Partial bytes live here (<blob>.incomplete) and are resumed from on the next try or run. */
  incomplete: string;
  dest: string;
  size?: number;
  /** Expected sha256 (hex) of the whole file: the etag of an LFS file. */
  sha256?: string;
  label: string;
  onProgress?: (p: DownloadProgress) => void;
  /** Connection drops survived within this call, each resuming where the last stopped (default 5). */
  retries?: number;
  /** The endpoint (its origin alone gets the token, on whichever hop reaches it) and the silence allowed. */
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
 * A server silent for the timeout (HF_HUB_DOWNLOAD_TIMEOUT) fails the call at once, without retrying: its bytes
 * so far stay in `incomplete` for the next run.
 */
export async function downloadBlob(d: BlobDownload): Promise<void> {
  const retries = d.retries ?? 5;
  const h: Hashed = { hash: crypto.createHash('sha256'), upTo: 0 };
  for (let attempt = 0; ; attempt++) {
    let have = fileSize(d.incomplete);
    if (d.size !== undefined && have > d.size) {
      fs.rmSync(d.incomplete, { force: true });
      have = 0;
    }
    if (d.size !== undefined && have === d.size && have > 0) break;
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (have > 0) headers.range = `bytes=${have}-`;
    const r = await hubFetch(d.url, { headers, timeoutMs: d.ctx.timeoutMs ?? DEFAULT_TIMEOUT_MS, follow: () => true }, d.ctx);
    if (r.res.status === 416) {
      // Range past the end: the partial file is not a prefix of this one.
      await discard(r);
      fs.rmSync(d.incomplete, { force: true });
      if (attempt >= retries) throw new HubError('http', `${d.label}: the server refused to resume (HTTP 416) ${attempt + 1} times`);
      continue;
    }
    if (!r.res.ok || !r.res.body) {
      await discard(r);
      throw errorFor(r.res, d.ctx);
    }
    if (have > 0 && r.res.status !== 206) have = 0;
    const got = await receive(d, r, have, h);
    const done = got.done;
    let broke = got.broke;
    if (!broke && d.size !== undefined && done < d.size) broke = new Error(`ended at ${done} of ${d.size} bytes`);
    if (!broke) break;
    const why = (broke as { cause?: { code?: string } }).cause?.code ?? broke.message;
    const resume = `run again to resume from ${d.incomplete}`;
    if (broke instanceof BodyStalled)
      throw new HubError('network', `${d.label}: the download stalled at ${formatBytes(done)} from ${new URL(r.url).origin} (${why}; HF_HUB_DOWNLOAD_TIMEOUT); ${resume}`);
    if (attempt >= retries) throw new HubError('network', `${d.label}: download broke off at ${formatBytes(done)} (${why}); ${resume}`);
    await new Promise((res) => setTimeout(res, Math.min(100 * 2 ** attempt, 5000)));
  }
  await verifyAndKeep(d, h);
}

/** A running sha256 of the first `upTo` bytes of the .incomplete file. */
interface Hashed {
  hash: crypto.Hash;
  upTo: number;
}

/** Appends the body to `incomplete` (from byte `have`); a break keeps what arrived, for the resume. */
async function receive(d: BlobDownload, r: HubResponse, have: number, h: Hashed): Promise<{ done: number; broke?: Error }> {
  if (h.upTo !== have) Object.assign(h, { hash: await hashPrefix(d.incomplete, have), upTo: have });
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
    h.hash.update(buf);
    h.upTo += buf.length;
  };
  let broke: Error | undefined;
  try {
    for await (const chunk of readBody(r)) {
      pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      pendingBytes += chunk.length;
      done += chunk.length;
      if (pendingBytes >= FLUSH_BYTES) await flush();
      d.onProgress?.({ label: d.label, done, total: d.size });
    }
  } catch (e) {
    broke = e as Error;
  } finally {
    await flush();
    await fh.close();
  }
  return { done, broke };
}

/** Size and sha256 against the Hub's, then the rename to the blob; a mismatch deletes the partial file. */
async function verifyAndKeep(d: BlobDownload, h: Hashed): Promise<void> {
  const got = fileSize(d.incomplete);
  if (h.upTo !== got) Object.assign(h, { hash: await hashPrefix(d.incomplete, got), upTo: got });
  const digest = h.hash.digest('hex');
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
