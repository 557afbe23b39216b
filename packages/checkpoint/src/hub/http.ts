export type HubErrorKind =
  | 'repo-not-found' | 'gated' | 'unauthorized' | 'revision-not-found' | 'entry-not-found'
  | 'http' | 'network' | 'not-cached' | 'integrity';

/** A failure talking to the Hub (or finding a file in its cache), with what to do about it in the message. */
export class HubError extends Error {
  constructor(readonly kind: HubErrorKind, message: string, readonly status?: number) {
    super(message);
    this.name = 'HubError';
  }
}

/** What a HEAD on {endpoint}/{repo}/resolve/{revision}/{file} says about the file. */
export interface FileMetadata {
  commit: string;
  /** X-Linked-Etag (the sha256 of an LFS file) or ETag, without quotes or W/. */
  etag: string;
  /** X-Linked-Size, else Content-Length of a non-redirect answer. */
  size?: number;
  /** Where to GET the bytes: the CDN URL of a redirect, else the resolve URL itself. */
  location: string;
  /** An LFS file: its etag is the sha256 of its contents. */
  lfs: boolean;
}

export interface RequestContext {
  endpoint: string;
  token?: string;
  timeoutMs?: number;
  /** "org/name" (and file, revision) for messages. */
  repoId: string;
  revision: string;
  file?: string;
}

const MAX_REDIRECTS = 5;

export function normalizeEtag(etag: string | null): string | undefined {
  return etag ? etag.replace(/^W\//, '').replace(/^"|"$/g, '') || undefined : undefined;
}

export function authHeaders(token: string | undefined): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': `altclip-ts; node/${process.versions.node}` };
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

function hostOf(url: string): string {
  return new URL(url).hostname.toLowerCase();
}

/** A clear HubError for a failed Hub answer, from its status and X-Error-Code. */
export function errorFor(res: Response, ctx: RequestContext): HubError {
  const code = res.headers.get('x-error-code');
  const where = `${ctx.repoId} on ${ctx.endpoint}`;
  const tokenHint = ctx.token ? 'the token in use (HF_TOKEN) was not accepted for it' : 'if it is private or gated, set HF_TOKEN (or log in with `hf auth login`)';
  if (code === 'RepoNotFound') return new HubError('repo-not-found', `${where}: no such model repository (HTTP ${res.status}); ${tokenHint}`, res.status);
  if (code === 'GatedRepo')
    return new HubError('gated', `${where}: the repository is gated (HTTP ${res.status}); accept its conditions at ${ctx.endpoint}/${ctx.repoId} and set HF_TOKEN to a token of that account`, res.status);
  if (code === 'RevisionNotFound') return new HubError('revision-not-found', `${where}: revision '${ctx.revision}' not found (HTTP ${res.status}); check --revision`, res.status);
  if (code === 'EntryNotFound') return new HubError('entry-not-found', `${where}: no file '${ctx.file}' at revision '${ctx.revision}'`, res.status);
  if (res.status === 401 || res.status === 403) return new HubError('unauthorized', `${where}: access denied (HTTP ${res.status}); ${tokenHint}`, res.status);
  if (res.status === 404) return new HubError('entry-not-found', `${where}: ${ctx.file ? `'${ctx.file}' ` : ''}not found (HTTP 404 from ${res.url || ctx.endpoint})`, 404);
  return new HubError('http', `${where}: HTTP ${res.status} ${res.statusText}${ctx.file ? ` for '${ctx.file}'` : ''}`, res.status);
}

/** fetch with a deadline for the response headers only (a slow body is not cut) and network errors made readable. */
export async function fetchWithTimeout(url: string, init: RequestInit, timeoutMs: number, ctx: RequestContext): Promise<Response> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    return await fetch(url, { ...init, signal: ctl.signal });
  } catch (e) {
    const why = ctl.signal.aborted ? `no answer within ${timeoutMs / 1000}s` : ((e as any)?.cause?.code ?? (e as any)?.cause?.message ?? (e as Error).message);
    throw new HubError('network', `cannot reach ${new URL(url).origin} for ${ctx.repoId} (${why}); offline? files already in the cache are used with --offline / HF_HUB_OFFLINE=1`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * HEAD of a resolve URL. Redirects on the same host (a renamed repo) are followed; one to another host (the CDN)
 * is not: the Hub puts the file's metadata on that redirect answer, and the token must not leave the Hub.
 */
export async function headFile(url: string, ctx: RequestContext): Promise<FileMetadata> {
  let res: Response;
  let hops = 0;
  for (;;) {
    // identity: the size must be the real one, not a compressed one
    res = await fetchWithTimeout(url, { method: 'HEAD', redirect: 'manual', headers: { ...authHeaders(ctx.token), 'accept-encoding': 'identity' } }, ctx.timeoutMs ?? 30000, ctx);
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc) {
      const target = new URL(loc, url).toString();
      if (hostOf(target) === hostOf(url)) {
        if (++hops > MAX_REDIRECTS) throw new HubError('http', `${ctx.repoId}: more than ${MAX_REDIRECTS} redirects for '${ctx.file}'`);
        url = target;
        continue;
      }
    } else if (!res.ok) throw errorFor(res, ctx);
    break;
  }
  const redirect = res.status >= 300 && res.status < 400;
  const commit = res.headers.get('x-repo-commit');
  if (!commit) throw new HubError('http', `${url}: the answer has no X-Repo-Commit header, so ${ctx.endpoint} does not look like a Hugging Face Hub endpoint (check HF_ENDPOINT)`);
  const linked = normalizeEtag(res.headers.get('x-linked-etag'));
  const etag = linked ?? normalizeEtag(res.headers.get('etag'));
  if (!etag) throw new HubError('http', `${url}: the answer has no ETag; cannot cache the file reliably`);
  const sizeHeader = res.headers.get('x-linked-size') ?? (redirect ? null : res.headers.get('content-length'));
  const loc = res.headers.get('location');
  return {
    commit,
    etag,
    size: sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined,
    location: redirect && loc ? new URL(loc, url).toString() : url,
    lfs: linked !== undefined,
  };
}

/** GET of a small JSON document from the Hub API. */
export async function getJson(url: string, ctx: RequestContext): Promise<unknown> {
  const res = await fetchWithTimeout(url, { headers: authHeaders(ctx.token) }, ctx.timeoutMs ?? 30000, ctx);
  if (!res.ok) throw errorFor(res, ctx);
  try {
    return await res.json();
  } catch (e) {
    throw new HubError('http', `${url}: not JSON (${(e as Error).message})`);
  }
}
