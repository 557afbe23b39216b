/**
 * Hostile-Hub probes and cache features, run against any client that fetches a model into the Hugging Face cache:
 * ours (hub-hostile.test.ts) and the official @huggingface/hub (hub-official.test.ts), so that the two are judged
 * by the same evidence. A probe resolves when the client passes it and throws (saying why) when it does not.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FakeHub, FakeRepo, Hostile, gitBlobId, sha256, startFakeHub, tmpDir } from '@altclip/test-utils';
import { HubError, snapshotDownload } from '../src';

export interface ClientOptions {
  endpoint?: string;
  cacheDir?: string;
  token?: string;
  revision?: string;
  offline?: boolean;
  /** ms of silence allowed in a download. */
  timeoutMs?: number;
}

export interface HubClient {
  name: string;
  /** config.json and the weights (with the shards of an index) of a model repository; the snapshot folder. */
  fetchModel(repoId: string, o: ClientOptions): Promise<string>;
}

/** Ours: what loading a model by hub id runs. */
export const ours: HubClient = {
  name: 'altclip-ts',
  fetchModel: (repoId, o) => snapshotDownload(repoId, { ...o, parts: ['config', 'weights'], onProgress: false, log: () => undefined }),
};

/** One probe's world: a fresh fake Hub, and a root folder holding the cache and an `outside` folder beside it. */
export interface World {
  hub: FakeHub;
  root: string;
  cache: string;
  outside: string;
  /** Options naming this hub and cache, with the token. */
  opts: ClientOptions;
  /** Calls a probe may give up on: the folder is removed only once they have ended (or after 5 s more). */
  calls: Promise<unknown>[];
}

export interface Probe {
  name: string;
  /** What it checks, as docs/hub.md reports it. */
  what: string;
  /** The repositories served (`outside` is the folder beside the cache, for probes that name it). */
  repos: (outside: string) => Record<string, FakeRepo>;
  api?: boolean;
  run(c: HubClient, w: World): Promise<void>;
}

export const CONFIG = Buffer.from('{"model_type":"altclip"}\n');
export const WEIGHTS = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + (i >> 9)) & 255));
const PLAIN = { 'config.json': CONFIG, 'model.safetensors': WEIGHTS };
const plainRepo = () => ({ 't/plain': { revisions: { main: PLAIN } } });
const indexed = (shard: string): Record<string, FakeRepo> => ({
  'evil/index': { revisions: { main: { 'config.json': CONFIG, 'model.safetensors.index.json': Buffer.from(JSON.stringify({ metadata: {}, weight_map: { w: shard } })) } } },
  'victim/repo': { revisions: { main: PLAIN } },
});

function fail(why: string): never {
  throw new Error(why);
}

/** The error `p` rejects with; an Error saying `what` did not refuse when it resolves. */
export async function rejection(p: Promise<unknown>, what = 'the call'): Promise<HubError> {
  try {
    await p;
  } catch (e) {
    return e as HubError;
  }
  return fail(`${what}: the client did not refuse`);
}

/** Every path under `dir` (not following symlinks). */
function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) walk(p, out);
  }
  return out;
}

/** What lies outside the repository's cache folder (and its locks) that was not there `before`, or undefined. */
function strays(w: World, repoId: string, before: Set<string>): string | undefined {
  const folder = path.join(w.cache, `models--${repoId.replace('/', '--')}`);
  const allowed = [folder, path.join(w.cache, '.locks', path.basename(folder)), path.join(w.cache, '.locks')];
  const inside = (p: string, root: string) => p === root || p.startsWith(root + path.sep);
  const stray = walk(w.root).filter((p) => !before.has(p) && p !== w.cache && !allowed.some((a) => inside(p, a)));
  if (stray.length) return `wrote outside ${path.relative(w.root, folder)}: ${stray.map((p) => path.relative(w.root, p)).join(', ')}`;
  for (const p of fs.existsSync(folder) ? walk(folder) : []) {
    if (!fs.lstatSync(p).isSymbolicLink()) continue;
    const target = path.resolve(path.dirname(p), fs.readlinkSync(p));
    if (!inside(target, path.join(folder, 'blobs'))) return `${path.relative(w.root, p)} links out of blobs/ to ${path.relative(w.root, target)}`;
  }
  return undefined;
}

/** A probe whose client must refuse, touching nothing outside the repository's folder and asking nothing of `victim/`. */
function refusal(name: string, what: string, repos: Probe['repos'], hostile: Hostile, repoId: string, api = true): Probe {
  return {
    name, what, repos, api,
    async run(c, w) {
      Object.assign(w.hub.hostile, hostile);
      const before = new Set(walk(w.root));
      const refused = await c.fetchModel(repoId, w.opts).then(() => false, () => true);
      const victim = w.hub.requests.filter((r) => r.url.includes('/victim/')).map((r) => `${r.method} ${r.url}`);
      const problems = [
        refused ? '' : 'did not refuse',
        victim.length ? `fetched a file of another repository (${victim.join(', ')})` : '',
        strays(w, repoId, before) ?? '',
      ].filter(Boolean);
      if (problems.length) fail(problems.join('; '));
    },
  };
}

const within = async <T>(ms: number, p: Promise<T>, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: still running after ${ms / 1000}s`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
};

const weightsOf = (dir: string) => fs.readFileSync(path.join(dir, 'model.safetensors'));
const cdnGets = (w: World) => w.hub.requests.filter((r) => r.host === 'cdn' && r.method === 'GET');

/** The security probes of issue 24 (items 1-4). */
export const SECURITY: Probe[] = [
  refusal('index-traversal', "weight_map value '../../../../victim/repo/resolve/main/model.safetensors'", () => indexed('../../../../victim/repo/resolve/main/model.safetensors'), {}, 'evil/index'),
  refusal('index-outside-read', "weight_map value '../../../../outside/secret.safetensors' (an existing file beside the cache)", () => indexed('../../../../outside/secret.safetensors'), {}, 'evil/index'),
  refusal('index-absolute', 'weight_map value <root>/outside/secret.safetensors (absolute, existing)', (outside) => indexed(path.join(outside, 'secret.safetensors')), {}, 'evil/index'),
  refusal('index-backslash', String.raw`weight_map value '..\..\..\..\outside\secret.safetensors'`, () => indexed(String.raw`..\..\..\..\outside\secret.safetensors`), {}, 'evil/index'),
  refusal('sha-traversal', "API sha / X-Repo-Commit '../../../elsewhere/x'", plainRepo, { sha: '../../../elsewhere/x' }, 't/plain'),
  refusal('sha-traversal-no-api', "X-Repo-Commit '../../../elsewhere/x' (endpoint without the API)", plainRepo, { sha: '../../../elsewhere/x' }, 't/plain', false),
  refusal('etag-lfs-traversal', "X-Linked-Etag (LFS oid) '../../../elsewhere/blob' of model.safetensors", plainRepo, { etag: { 'model.safetensors': '../../../elsewhere/blob' } }, 't/plain'),
  refusal('etag-git-traversal', "ETag (git oid) '../../../elsewhere/blob' of config.json", plainRepo, { etag: { 'config.json': '../../../elsewhere/blob' } }, 't/plain'),
  {
    name: 'sibling-traversal',
    what: "a repository listing a file '../../../../outside/z.safetensors' (never written outside; fetching the model may fail or succeed)",
    repos: () => ({ 't/plain': { revisions: { main: { ...PLAIN, '../../../../outside/z.safetensors': WEIGHTS } } } }),
    async run(c, w) {
      const before = new Set(walk(w.root));
      await c.fetchModel('t/plain', w.opts).catch(() => undefined);
      const stray = strays(w, 't/plain', before);
      if (stray) fail(stray);
    },
  },
  ...(['resolve', 'api'] as const).map(
    (kind): Probe => ({
      name: `token-other-port-${kind}`,
      what: `the ${kind === 'api' ? 'API answer' : 'resolve URL of every file'} redirects to the same host on another port: no HF_TOKEN there`,
      repos: plainRepo,
      async run(c, w) {
        w.hub.hostile.toAlt = (p) => p.startsWith(kind === 'api' ? '/api/' : '/t/plain/resolve/');
        await c.fetchModel('t/plain', w.opts).catch(() => undefined);
        const alt = w.hub.requests.filter((r) => r.host === 'alt');
        if (!alt.length) fail('the redirect was never followed (probe did not run)');
        if (alt.some((r) => r.auth)) fail(`sent the token to ${w.hub.alt}: ${alt.filter((r) => r.auth).map((r) => `${r.method} ${r.url}`).join(', ')}`);
        if (!w.hub.requests.some((r) => r.host === 'hub' && r.auth)) fail('never sent the token to the endpoint either (probe did not run)');
      },
    }),
  ),
  ...(['body', 'api'] as const).map(
    (kind): Probe => ({
      name: `stall-${kind}`,
      what: `${kind === 'api' ? 'the API answer sends its headers and 10 bytes' : 'the weights send their headers and 1,000 bytes'}, then silence: fails within the 1 s timeout (+2 s)`,
      repos: plainRepo,
      async run(c, w) {
        Object.assign(w.hub.hostile, kind === 'api' ? { stallApi: 10 } : { stall: { file: 'model.safetensors', bytes: 1000 } });
        const t0 = Date.now();
        const call = c.fetchModel('t/plain', { ...w.opts, timeoutMs: 1000 });
        w.calls.push(call);
        await within(5000, rejection(call, 'stalled'), 'a stalled answer');
        if (Date.now() - t0 > 3000) fail(`failed only after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      },
    }),
  ),
];

/** Cache features ours has: the layout Python shares, offline, resume, sha256, locks, HF_* settings. */
export const FEATURES: Probe[] = [
  {
    name: 'layout',
    what: 'snapshots/<commit of the revision>, refs/main, relative symlinks to blobs/<sha256> and blobs/<git oid> (what huggingface_hub reads)',
    repos: plainRepo,
    async run(c, w) {
      const dir = await c.fetchModel('t/plain', w.opts);
      const folder = path.join(w.cache, 'models--t--plain');
      const commit = w.hub.commit('t/plain', 'main');
      if (dir !== path.join(folder, 'snapshots', commit)) fail(`snapshot folder ${dir}`);
      if (fs.readFileSync(path.join(folder, 'refs', 'main'), 'utf8') !== commit) fail('refs/main');
      const links = [fs.readlinkSync(path.join(dir, 'model.safetensors')), fs.readlinkSync(path.join(dir, 'config.json'))];
      const want = [path.join('..', '..', 'blobs', sha256(WEIGHTS)), path.join('..', '..', 'blobs', gitBlobId(CONFIG))];
      if (links.join() !== want.join()) fail(`links ${links.join(', ')}`);
      if (!weightsOf(dir).equals(WEIGHTS)) fail('weights differ');
    },
  },
  {
    name: 'offline',
    what: 'HF_HUB_OFFLINE / offline: a branch resolves through refs/ to the cached snapshot, without any request',
    repos: plainRepo,
    async run(c, w) {
      const dir = await c.fetchModel('t/plain', w.opts);
      const n = w.hub.requests.length;
      const again = await c.fetchModel('t/plain', { ...w.opts, offline: true });
      if (again !== dir || w.hub.requests.length !== n) fail(`offline gave ${again} after ${w.hub.requests.length - n} requests`);
    },
  },
  {
    name: 'resume-earlier-run',
    what: 'a .incomplete left by an earlier run is resumed with a Range request, not fetched again',
    repos: plainRepo,
    async run(c, w) {
      const blobs = path.join(w.cache, 'models--t--plain', 'blobs');
      fs.mkdirSync(blobs, { recursive: true });
      fs.writeFileSync(path.join(blobs, `${sha256(WEIGHTS)}.incomplete`), WEIGHTS.subarray(0, 100_000));
      const dir = await c.fetchModel('t/plain', w.opts);
      if (!weightsOf(dir).equals(WEIGHTS)) fail('weights differ');
      const sent = cdnGets(w).reduce((n, r) => n + r.sent, 0);
      if (sent !== WEIGHTS.length - 100_000) fail(`${sent} bytes fetched for ${WEIGHTS.length - 100_000} missing`);
    },
  },
  {
    name: 'resume-cut',
    what: 'a transfer cut after 50 kB is resumed in the same call',
    repos: plainRepo,
    async run(c, w) {
      w.hub.cutOnce('model.safetensors', 50_000);
      const dir = await c.fetchModel('t/plain', w.opts);
      if (!weightsOf(dir).equals(WEIGHTS)) fail('weights differ');
    },
  },
  {
    name: 'sha256',
    what: 'bytes that do not match the LFS sha256 are refused and no blob is kept',
    repos: plainRepo,
    async run(c, w) {
      const bad = Buffer.from(WEIGHTS);
      bad[1000] ^= 1;
      w.hub.corrupt('model.safetensors', bad);
      const dir = await c.fetchModel('t/plain', w.opts).catch(() => undefined);
      if (dir && fs.existsSync(path.join(dir, 'model.safetensors'))) fail('kept the corrupt file as the weights');
    },
  },
  {
    name: 'locks',
    what: 'two concurrent downloads of one repository fetch each blob once',
    repos: plainRepo,
    async run(c, w) {
      const [a, b] = await Promise.all([c.fetchModel('t/plain', w.opts), c.fetchModel('t/plain', w.opts)]);
      if (!weightsOf(a).equals(WEIGHTS) || !weightsOf(b).equals(WEIGHTS)) fail('weights differ');
      const n = cdnGets(w).filter((r) => r.url.endsWith(sha256(WEIGHTS))).length;
      if (n !== 1) fail(`${n} downloads of the weights`);
    },
  },
  {
    name: 'env',
    what: 'HF_ENDPOINT, HF_HUB_CACHE and HF_TOKEN from the environment alone (a gated repository)',
    repos: () => ({ 't/gated': { revisions: { main: PLAIN }, gated: true } }),
    async run(c, w) {
      const dir = await withEnv({ HF_ENDPOINT: w.hub.endpoint, HF_HUB_CACHE: w.cache, HF_TOKEN: w.hub.token }, () => c.fetchModel('t/gated', {}));
      if (!dir.startsWith(w.cache) || !weightsOf(dir).equals(WEIGHTS)) fail(`got ${dir}`);
    },
  },
  {
    name: 'env-bad-timeout',
    what: 'HF_HUB_DOWNLOAD_TIMEOUT=abc is an error naming it, before any request',
    repos: plainRepo,
    async run(c, w) {
      const e = await withEnv({ HF_HUB_DOWNLOAD_TIMEOUT: 'abc' }, () => rejection(c.fetchModel('t/plain', w.opts), 'HF_HUB_DOWNLOAD_TIMEOUT=abc'));
      if (!/HF_HUB_DOWNLOAD_TIMEOUT.*abc/.test(e.message)) fail(`the error does not name it: ${e.message}`);
      if (w.hub.requests.length) fail(`${w.hub.requests.length} requests made first`);
    },
  },
];

async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** Runs one probe in a fresh world; resolves to undefined when the client passes, else to why it fails. */
export async function runProbe(p: Probe, c: HubClient): Promise<string | undefined> {
  const root = tmpDir('altclip-probe-');
  let hub: FakeHub | undefined;
  const calls: Promise<unknown>[] = [];
  try {
    const cache = path.join(root, 'cache');
    const outside = path.join(root, 'outside');
    fs.mkdirSync(cache);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret.safetensors'), 'not yours');
    hub = await startFakeHub(p.repos(outside), { api: p.api });
    const running = p.run(c, { hub, root, cache, outside, opts: { endpoint: hub.endpoint, cacheDir: cache, token: hub.token }, calls });
    calls.push(running);
    await within(20_000, running, p.name);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await hub?.close();
    // A client given up on wakes when the hub closes; let it finish writing before the folder goes.
    await within(5000, Promise.allSettled(calls), 'the calls given up on').catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
}
