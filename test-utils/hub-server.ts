import * as crypto from 'crypto';
import * as http from 'http';
import { AddressInfo } from 'net';

/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1, serving its URL layout and headers:
 *   HEAD/GET {endpoint}/{org}/{name}/resolve/{revision}/{file}   X-Repo-Commit, ETag (git blob id) for small files;
 *     LFS files: 302 to the "CDN" (127.0.0.2, another host) with X-Linked-Etag (sha256) and X-Linked-Size
 *   GET {endpoint}/api/models/{org}/{name}/revision/{revision}   { sha, siblings: [{ rfilename }] }
 *   errors with X-Error-Code: RepoNotFound (404; 401 for a private repo without token), GatedRepo (401/403),
 *   RevisionNotFound (404), EntryNotFound (404)
 * The CDN honours Range (206) and can cut a transfer mid-file once, or serve corrupt bytes.
 */
export interface FakeRepo {
  /** revision (branch or tag) -> files; each revision gets its own commit hash. */
  revisions: Record<string, Record<string, Buffer>>;
  gated?: boolean;
  private?: boolean;
}

export interface LoggedRequest {
  host: 'hub' | 'cdn';
  method: string;
  url: string;
  range?: string;
  auth: boolean;
  /** Body bytes sent. */
  sent: number;
}

export interface FakeHub {
  endpoint: string;
  token: string;
  requests: LoggedRequest[];
  /** The commit hash of a revision. */
  commit(repoId: string, revision: string): string;
  /** Next CDN GET of this file (by name) sends `bytes` bytes, then drops the connection. */
  cutOnce(file: string, bytes: number): void;
  /** CDN serves these bytes instead of the file's (a corrupt mirror). */
  corrupt(file: string, bytes: Buffer): void;
  close(): Promise<void>;
}

export function isLfs(file: string): boolean {
  return /\.(safetensors|bin|model|msgpack|h5)$/.test(file);
}

export function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** Git's blob id, which the Hub sends as the ETag of a non-LFS file. */
export function gitBlobId(b: Buffer): string {
  return crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
}

function commitOf(repoId: string, revision: string, files: Record<string, Buffer>): string {
  const h = crypto.createHash('sha1').update(`${repoId}@${revision}`);
  for (const [k, v] of Object.entries(files).sort()) h.update(k).update(sha256(v));
  return h.digest('hex');
}

async function listen(server: http.Server, host: string): Promise<string> {
  await new Promise<void>((res) => server.listen(0, host, () => res()));
  return `http://${host}:${(server.address() as AddressInfo).port}`;
}

export async function startFakeHub(repos: Record<string, FakeRepo>, opts: { api?: boolean; token?: string } = {}): Promise<FakeHub> {
  const token = opts.token ?? 'hf_test_token';
  const requests: LoggedRequest[] = [];
  const cuts = new Map<string, number>();
  const corrupt = new Map<string, Buffer>();
  // commit -> { repoId, files }; blobs by sha256 for the CDN
  const commits = new Map<string, { repoId: string; files: Record<string, Buffer> }>();
  const blobs = new Map<string, { file: string; data: Buffer }>();
  for (const [repoId, r] of Object.entries(repos))
    for (const [rev, files] of Object.entries(r.revisions)) {
      commits.set(commitOf(repoId, rev, files), { repoId, files });
      for (const [f, d] of Object.entries(files)) blobs.set(sha256(d), { file: f, data: d });
    }

  let cdnBase = '';
  const hub = http.createServer((req, res) => {
    const auth = req.headers.authorization === `Bearer ${token}`;
    const log: LoggedRequest = { host: 'hub', method: req.method!, url: req.url!, auth: !!req.headers.authorization, sent: 0 };
    requests.push(log);
    const fail = (status: number, code?: string, commit?: string) => {
      const h: Record<string, string> = {};
      if (code) h['x-error-code'] = code;
      if (commit) h['x-repo-commit'] = commit;
      res.writeHead(status, h).end(code ?? 'not found');
    };
    const url = new URL(req.url!, 'http://x');
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const m = api ?? resolve;
    if (!m || (api && opts.api === false)) return fail(404);
    const repoId = m[1];
    const rev = decodeURIComponent(m[2]);
    const repo = repos[repoId];
    if (!repo) return fail(auth ? 404 : 401, 'RepoNotFound');
    if (repo.private && !auth) return fail(req.headers.authorization ? 404 : 401, 'RepoNotFound');
    if (repo.gated && !auth) return fail(req.headers.authorization ? 403 : 401, 'GatedRepo');
    const files = repo.revisions[rev] ?? (commits.get(rev)?.repoId === repoId ? commits.get(rev)!.files : undefined);
    if (!files) return fail(404, 'RevisionNotFound');
    const commit = commitOf(repoId, Object.keys(repo.revisions).find((k) => repo.revisions[k] === files)!, files);
    if (api) {
      const body = JSON.stringify({ id: repoId, sha: commit, siblings: Object.keys(files).map((rfilename) => ({ rfilename })) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    const file = m[3].split('/').map(decodeURIComponent).join('/');
    const data = files[file];
    if (!data) return fail(404, 'EntryNotFound', commit);
    if (isLfs(file)) {
      res.writeHead(302, {
        location: `${cdnBase}/blobs/${sha256(data)}`,
        'x-repo-commit': commit,
        'x-linked-etag': `"${sha256(data)}"`,
        'x-linked-size': String(data.length),
        etag: `"${gitBlobId(Buffer.from(`pointer ${sha256(data)}`))}"`,
      });
      res.end();
      return;
    }
    res.writeHead(200, { 'x-repo-commit': commit, etag: `"${gitBlobId(data)}"`, 'content-length': String(data.length) });
    if (req.method === 'HEAD') return res.end();
    log.sent = data.length;
    res.end(data);
  });

  const cdn = http.createServer((req, res) => {
    const log: LoggedRequest = { host: 'cdn', method: req.method!, url: req.url!, range: req.headers.range, auth: !!req.headers.authorization, sent: 0 };
    requests.push(log);
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(req.url!);
    const blob = m && blobs.get(m[1]);
    if (!blob) return res.writeHead(404).end();
    const data = corrupt.get(blob.file) ?? blob.data;
    const r = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = r ? Number(r[1]) : 0;
    if (start > data.length || (r && start === data.length)) return res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
    const body = data.subarray(start);
    const headers: Record<string, string> = { 'content-length': String(body.length), 'accept-ranges': 'bytes' };
    if (r) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    res.writeHead(r ? 206 : 200, headers);
    if (req.method === 'HEAD') return res.end();
    const cut = cuts.get(blob.file);
    if (cut !== undefined) {
      cuts.delete(blob.file);
      log.sent = cut;
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    log.sent = body.length;
    res.end(body);
  });

  const endpoint = await listen(hub, '127.0.0.1');
  cdnBase = await listen(cdn, '127.0.0.2');
  const close = (s: http.Server) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
  return {
    endpoint,
    token,
    requests,
    commit: (repoId, revision) => commitOf(repoId, revision, repos[repoId].revisions[revision]),
    cutOnce: (file, bytes) => cuts.set(file, bytes),
    corrupt: (file, bytes) => corrupt.set(file, bytes),
    close: async () => { await close(hub); await close(cdn); },
  };
}
