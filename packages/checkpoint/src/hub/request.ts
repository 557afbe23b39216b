import { HubError } from './errors';

/** Who is asked and for what: the endpoint (whose exact origin alone gets the token), and names for messages. */
export interface RequestContext {
  endpoint: string;
  token?: string;
  /** ms of silence allowed for a download (before its headers, then between body chunks). */
  timeoutMs?: number;
  /** The same for metadata requests (HEAD, API); default timeoutMs. */
  etagTimeoutMs?: number;
  /** "org/name" (and file, revision) for messages. */
  repoId: string;
  revision: string;
  file?: string;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 5;

/**
 * Request headers for `url`: the token only where the origin (scheme, host and port) is exactly the endpoint's.
 * A redirect elsewhere (the CDN, or the same host on another port) gets none.
 */
export function headersFor(url: string, ctx: RequestContext): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': `altclip-ts; node/${process.versions.node}` };
  if (ctx.token && new URL(url).origin === new URL(ctx.endpoint).origin) h.authorization = `Bearer ${ctx.token}`;
  return h;
}

/** Aborts a request once `ms` pass without kick(): bounds the wait for the headers, then each silence in the body. */
export class Watchdog {
  readonly ctl = new AbortController();
  stalled = false;
  private timer?: NodeJS.Timeout;
  constructor(readonly ms: number) {
    this.kick();
  }
  kick(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.ctl.abort();
    }, this.ms);
    // A response whose body is never read must not keep the process alive.
    this.timer.unref();
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}

/** An answer, with the watchdog that keeps guarding its body. */
export interface HubResponse {
  res: Response;
  /** The URL that answered (after the redirects followed). */
  url: string;
  dog: Watchdog;
}

/** The body stopped: no byte for `ms`. */
export class BodyStalled extends Error {
  constructor(readonly ms: number) {
    super(`no data for ${ms / 1000}s`);
  }
}

function causeOf(e: unknown): string {
  const c = (e as { cause?: { code?: string; message?: string } })?.cause;
  return c?.code ?? c?.message ?? (e as Error).message;
}

export interface FetchOptions {
  method?: string;
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Whether to follow a redirect from `from` to `to` (else the redirect answer itself is returned). */
  follow: (from: string, to: string) => boolean;
}

/**
 * One request to the Hub or where it redirects, following redirects by hand so that headersFor decides the token
 * for each hop; the watchdog bounds the headers of each hop and, once returned, the body (see readBody).
 */
export async function hubFetch(url: string, o: FetchOptions, ctx: RequestContext): Promise<HubResponse> {
  for (let hops = 0; ; hops++) {
    const dog = new Watchdog(o.timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, { method: o.method, headers: { ...o.headers, ...headersFor(url, ctx) }, redirect: 'manual', signal: dog.ctl.signal });
    } catch (e) {
      dog.stop();
      const why = dog.stalled ? `no answer within ${o.timeoutMs / 1000}s` : causeOf(e);
      throw new HubError('network', `cannot reach ${new URL(url).origin} for ${ctx.repoId} (${why}); offline? files already in the cache are used with --offline / HF_HUB_OFFLINE=1`);
    }
    const loc = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !loc) return { res, url, dog };
    const target = new URL(loc, url).toString();
    if (!o.follow(url, target)) return { res, url, dog };
    dog.stop();
    await res.body?.cancel();
    if (hops >= MAX_REDIRECTS) throw new HubError('http', `${ctx.repoId}: more than ${MAX_REDIRECTS} redirects from ${url}${ctx.file ? ` for '${ctx.file}'` : ''}`);
    url = target;
  }
}

/**
 * The chunks of a body; a silence of the watchdog's ms throws BodyStalled (the request is aborted). A consumer that
 * stops early cancels the rest of the body.
 */
export async function* readBody(r: HubResponse): AsyncGenerator<Uint8Array> {
  if (!r.res.body) return;
  const reader = r.res.body.getReader();
  let done = false;
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (e) {
        done = true;
        throw r.dog.stalled ? new BodyStalled(r.dog.ms) : e;
      }
      if (chunk.done) break;
      r.dog.kick();
      yield chunk.value;
      // The consumer's own work (a disk write) is not the server's silence.
      r.dog.kick();
    }
    done = true;
  } finally {
    r.dog.stop();
    if (!done) await reader.cancel().catch(() => undefined);
  }
}

/** Drops an answer without reading it. */
export async function discard(r: HubResponse): Promise<void> {
  r.dog.stop();
  await r.res.body?.cancel().catch(() => undefined);
}

export const sameOrigin = (a: string, b: string): boolean => new URL(a).origin === new URL(b).origin;
