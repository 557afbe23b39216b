import { checkCommit, checkEtag } from './guard';
import { HubError } from './errors';
import { BodyStalled, DEFAULT_TIMEOUT_MS, discard, hubFetch, readBody, RequestContext, sameOrigin } from './request';

export { HubError } from './errors';
export type { HubErrorKind } from './errors';

/** What a HEAD on {endpoint}/{repo}/resolve/{revision}/{file} says about the file (commit and etag checked). */
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

export function normalizeEtag(etag: string | null): string | undefined {
  return etag ? etag.replace(/^W\//, '').replace(/^"|"$/g, '') || undefined : undefined;
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

const metaTimeout = (ctx: RequestContext) => ctx.etagTimeoutMs ?? ctx.timeoutMs ?? DEFAULT_TIMEOUT_MS;

/**
 * HEAD of a resolve URL. Redirects within the endpoint's origin (a renamed repo) are followed; one elsewhere (the
 * CDN) is not: the Hub puts the file's metadata on that redirect answer, and the token stays with the endpoint.
 */
export async function headFile(url: string, ctx: RequestContext): Promise<FileMetadata> {
  // identity: the size must be the real one, not a compressed one
  const r = await hubFetch(url, { method: 'HEAD', headers: { 'accept-encoding': 'identity' }, timeoutMs: metaTimeout(ctx), follow: (_, to) => sameOrigin(to, ctx.endpoint) }, ctx);
  await discard(r);
  const res = r.res;
  url = r.url;
  if (!(res.status >= 300 && res.status < 400 && res.headers.get('location')) && !res.ok) throw errorFor(res, ctx);
  const redirect = res.status >= 300 && res.status < 400;
  const commit = res.headers.get('x-repo-commit');
  if (!commit) throw new HubError('http', `${url}: the answer has no X-Repo-Commit header, so ${ctx.endpoint} does not look like a Hugging Face Hub endpoint (check HF_ENDPOINT)`);
  const linked = normalizeEtag(res.headers.get('x-linked-etag'));
  const etag = linked ?? normalizeEtag(res.headers.get('etag'));
  if (!etag) throw new HubError('http', `${url}: the answer has no ETag; cannot cache the file reliably`);
  checkCommit(commit, `${url} (X-Repo-Commit)`);
  checkEtag(etag, linked !== undefined, url);
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

const MAX_JSON_BYTES = 64 << 20;

/** GET of a JSON document from the Hub API, its body bounded in size and in silence. */
export async function getJson(url: string, ctx: RequestContext): Promise<unknown> {
  const r = await hubFetch(url, { timeoutMs: metaTimeout(ctx), follow: () => true }, ctx);
  if (!r.res.ok) {
    await discard(r);
    throw errorFor(r.res, ctx);
  }
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for await (const c of readBody(r)) {
      n += c.length;
      if (n > MAX_JSON_BYTES) throw new HubError('http', `${url}: the answer is over ${MAX_JSON_BYTES >> 20} MiB; not a Hub API answer`);
      parts.push(c);
    }
  } catch (e) {
    if (e instanceof HubError) throw e;
    const why = e instanceof BodyStalled ? `${e.message} after ${n} bytes (HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT)` : (e as Error).message;
    throw new HubError('network', `${url}: the answer broke off (${why})`);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (e) {
    throw new HubError('http', `${url}: not JSON (${(e as Error).message})`);
  }
}
