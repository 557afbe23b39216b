import * as crypto from 'crypto';
import * as http from 'http';
import { AddressInfo } from 'net';

/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1, serving its URL layout and headers:
 *   HEAD/GET {endpoint}/{org}/{name}/resolve/{revision}/{file}   X-Repo-Commit, ETag (git blob id) for small files;
 *     LFS files: 302 to the "CDN" (127.0.0.2, another host) with X-Linked-Etag (sha256) and X-Linked-Size
 *   GET {endpoint}/api/models/{org}/{name}/revision/{revision}   { sha, siblings: [{ rfilename }] }
 *   POST {endpoint}/api/models/{org}/{name}/paths-info/{revision} and GET .../tree/{revision}: file entries with
 *     oid, size, lfs { oid, size } (what @huggingface/hub asks)
 *   errors with X-Error-Code: RepoNotFound (404; 401 for a private repo without token), GatedRepo (401/403),
 *   RevisionNotFound (404), EntryNotFound (404)
 * Files honour Range (206). The CDN can cut a transfer mid-file once, or serve corrupt bytes; `hostile` makes the
 * Hub itself lie (see Hostile).
 */
export interface FakeRepo {
  /** revision (branch or tag) -> files; each revision gets its own commit hash. */
  revisions: Record<string, Record<string, Buffer>>;
  gated?: boolean;
  private?: boolean;
}

/** What a hostile (or broken) Hub does; set fields on `hub.hostile` at any time. */
export interface Hostile {
  /** Sent as every commit (API sha, X-Repo-Commit, paths-info lastCommit.id); requests naming it get the first revision. */
  sha?: string;
  /** file -> the etag sent for it (X-Linked-Etag of an LFS file, else ETag, and the oids of paths-info/tree). */
  etag?: Record<string, string>;
  /** Hub requests whose path this accepts answer 302 to the same path on `alt` (127.0.0.1, another port), with a resolve answer's headers. */
  toAlt?: (path: string) => boolean;
  /** GETs of this file (Hub or CDN) send their headers and `bytes` bytes, then nothing, keeping the connection open. */
  stall?: { file: string; bytes: number };
  /** API answers send their headers and this many bytes of JSON, then nothing. */
  stallApi?: number;
}

export interface LoggedRequest {
  host: 'hub' | 'cdn' | 'alt';
  method: string;
  url: string;
  range?: string;
  auth: boolean;
  /** Body bytes sent. */
  sent: number;
}

export interface FakeHub {
  endpoint: string;
  /** The Hub's twin on the same host name, another port: where `hostile.toAlt` redirects. */
  alt: string;
  token: string;
  requests: LoggedRequest[];
  hostile: Hostile;
  /** The commit hash of a revision. */
  commit(repoId: string, revision: string): string;
  /** The next CDN GET of this file (by name) longer than `bytes` sends `bytes` bytes, then drops the connection. */
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

const lfsPointer = (data: Buffer) => Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(data)}\nsize ${data.length}\n`);

/** What the Hub's file APIs (paths-info, tree) say of a file. */
function pathInfo(file: string, data: Buffer, commit: string, etag: string | undefined) {
  const lfs = isLfs(file);
  return {
    type: 'file',
    path: file,
    oid: !lfs && etag ? etag : gitBlobId(lfs ? lfsPointer(data) : data),
    size: data.length,
    ...(lfs ? { lfs: { oid: etag ?? sha256(data), size: data.length, pointerSize: lfsPointer(data).length } } : {}),
    lastCommit: { id: commit, title: 'update', date: '2024-01-01T00:00:00.000Z' },
  };
}

interface Send {
  /** Send this many bytes, then drop the connection. */
  cut?: number;
  /** Send this many bytes, then nothing. */
  stall?: number;
}

/**
 * Serves `data` honouring Range (bytes=a- and bytes=a-b) and HEAD; a cut or stall applies to a body longer than
 * its bytes (not to a client's 1-byte probe). Returns whether it applied.
 */
function sendBytes(req: http.IncomingMessage, res: http.ServerResponse, log: LoggedRequest, data: Buffer, headers: Record<string, string>, o: Send = {}): boolean {
  const r = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = r ? Number(r[1]) : 0;
  const end = r && r[2] ? Math.min(Number(r[2]), data.length - 1) : data.length - 1;
  if (r && start >= data.length) {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${data.length}` }).end();
    return false;
  }
  const body = data.subarray(start, end + 1);
  const h: Record<string, string> = { ...headers, 'content-length': String(body.length), 'accept-ranges': 'bytes' };
  if (r) h['content-range'] = `bytes ${start}-${end}/${data.length}`;
  res.writeHead(r ? 206 : 200, h);
  if (req.method === 'HEAD') {
    res.end();
    return false;
  }
  const part = o.cut ?? o.stall;
  if (part !== undefined && part < body.length) {
    log.sent = part;
    // A cut drops the connection once the bytes are out and (100 ms later, usually) read; a stall just stops writing.
    res.write(body.subarray(0, part), () => o.cut !== undefined && setTimeout(() => res.socket?.destroy(), 100));
    return true;
  }
  log.sent = body.length;
  res.end(body);
  return false;
}

async function readAll(req: http.IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of req) s += c;
  return s;
}

/** The Hub's routes: /api/models/{repo}/{revision|paths-info|tree}/{rev}[/...] and /{repo}/resolve/{rev}/{file}. */
function route(pathname: string) {
  const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|paths-info|tree)\/([^/]+)(?:\/.*)?$/.exec(pathname);
  if (api) return { repoId: api[1], kind: api[2], rev: decodeURIComponent(api[3]) };
  const res = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(pathname);
  if (res) return { repoId: res[1], kind: 'resolve', rev: decodeURIComponent(res[2]), file: res[3].split('/').map(decodeURIComponent).join('/') };
  return undefined;
}

export async function startFakeHub(repos: Record<string, FakeRepo>, opts: { api?: boolean; token?: string } = {}): Promise<FakeHub> {
  const token = opts.token ?? 'hf_test_token';
  const requests: LoggedRequest[] = [];
  const hostile: Hostile = {};
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
  const bases = { cdn: '', alt: '' };
  const anyTree = () => {
    const [repoId, r] = Object.entries(repos)[0];
    return { repoId, kind: 'tree', rev: Object.keys(r.revisions)[0], file: undefined };
  };

  const hubHandler = (host: 'hub' | 'alt') => async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const auth = req.headers.authorization === `Bearer ${token}`;
    const log: LoggedRequest = { host, method: req.method!, url: req.url!, auth: !!req.headers.authorization, sent: 0 };
    requests.push(log);
    const fail = (status: number, code?: string, commit?: string) => {
      const h: Record<string, string> = {};
      if (code) h['x-error-code'] = code;
      if (commit) h['x-repo-commit'] = commit;
      res.writeHead(status, h).end(code ?? 'not found');
    };
    const url = new URL(req.url!, 'http://x');
    // A client that puts the hostile sha into a URL unencoded asks a collapsed path: the hostile Hub answers that
    // too, with the tree of the first repository.
    const m = route(url.pathname) ?? (hostile.sha && url.pathname.startsWith('/api/') ? anyTree() : undefined);
    if (!m || (m.kind !== 'resolve' && opts.api === false)) return fail(404);
    const redirectAlt = host === 'hub' && hostile.toAlt?.(url.pathname);
    if (redirectAlt && m.kind !== 'resolve') return void res.writeHead(302, { location: `${bases.alt}${req.url}` }).end();
    const repo = repos[m.repoId];
    if (!repo) return fail(auth ? 404 : 401, 'RepoNotFound');
    if (repo.private && !auth) return fail(req.headers.authorization ? 404 : 401, 'RepoNotFound');
    if (repo.gated && !auth) return fail(req.headers.authorization ? 403 : 401, 'GatedRepo');
    const byCommit = commits.get(m.rev)?.repoId === m.repoId ? commits.get(m.rev)!.files : undefined;
    const files = repo.revisions[m.rev] ?? byCommit ?? (m.rev === hostile.sha ? Object.values(repo.revisions)[0] : undefined);
    if (!files) return fail(404, 'RevisionNotFound');
    const commit = hostile.sha ?? commitOf(m.repoId, Object.keys(repo.revisions).find((k) => repo.revisions[k] === files)!, files);
    const json = (v: unknown) => {
      const body = Buffer.from(JSON.stringify(v));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      if (hostile.stallApi === undefined) return void res.end(body);
      res.write(body.subarray(0, hostile.stallApi));
    };
    if (m.kind === 'revision') return json({ id: m.repoId, sha: commit, siblings: Object.keys(files).map((rfilename) => ({ rfilename })) });
    if (m.kind === 'tree') return json(Object.entries(files).map(([f, d]) => pathInfo(f, d, commit, hostile.etag?.[f])));
    if (m.kind === 'paths-info') {
      const asked: string[] = JSON.parse((await readAll(req)) || '{}').paths ?? [];
      return json(asked.filter((f) => files[f]).map((f) => pathInfo(f, files[f], commit, hostile.etag?.[f])));
    }
    const file = m.file!;
    const data = files[file];
    if (!data) return fail(404, 'EntryNotFound', commit);
    const etag = hostile.etag?.[file];
    if (isLfs(file)) {
      res.writeHead(302, {
        location: redirectAlt ? `${bases.alt}${req.url}` : `${bases.cdn}/blobs/${sha256(data)}`,
        'x-repo-commit': commit,
        'x-linked-etag': `"${etag ?? sha256(data)}"`,
        'x-linked-size': String(data.length),
        etag: `"${gitBlobId(lfsPointer(data))}"`,
      });
      return void res.end();
    }
    const headers = { 'x-repo-commit': commit, etag: `"${etag ?? gitBlobId(data)}"` };
    if (redirectAlt) return void res.writeHead(302, { ...headers, location: `${bases.alt}${req.url}` }).end();
    sendBytes(req, res, log, data, headers, { stall: hostile.stall?.file === file ? hostile.stall.bytes : undefined });
  };

  const cdn = http.createServer((req, res) => {
    const log: LoggedRequest = { host: 'cdn', method: req.method!, url: req.url!, range: req.headers.range, auth: !!req.headers.authorization, sent: 0 };
    requests.push(log);
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(req.url!);
    const blob = m && blobs.get(m[1]);
    if (!blob) return res.writeHead(404).end();
    const cut = cuts.get(blob.file);
    const stall = hostile.stall?.file === blob.file ? hostile.stall.bytes : undefined;
    // Like S3 behind a CDN: an ETag of its own (an md5), not the Hub's.
    const etag = `"${crypto.createHash('md5').update(blob.data).digest('hex')}"`;
    if (sendBytes(req, res, log, corrupt.get(blob.file) ?? blob.data, { etag }, { cut, stall }) && cut !== undefined) cuts.delete(blob.file);
  });

  const serve = (host: 'hub' | 'alt') => {
    const h = hubHandler(host);
    return http.createServer((req, res) => void h(req, res).catch((e) => res.writeHead(500).end(String(e))));
  };
  const servers = [serve('hub'), cdn, serve('alt')];
  const endpoint = await listen(servers[0], '127.0.0.1');
  bases.cdn = await listen(cdn, '127.0.0.2');
  bases.alt = await listen(servers[2], '127.0.0.1');
  const close = (s: http.Server) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
  return {
    endpoint,
    alt: bases.alt,
    token,
    requests,
    hostile,
    commit: (repoId, revision) => commitOf(repoId, revision, repos[repoId].revisions[revision]),
    cutOnce: (file, bytes) => cuts.set(file, bytes),
    corrupt: (file, bytes) => corrupt.set(file, bytes),
    close: async () => { for (const s of servers) await close(s); },
  };
}
