import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir, startFakeHub, FakeHub, sha256, gitBlobId } from '@altclip/test-utils';
import { snapshotDownload, resolvePretrained, hubSettings, parseHubId, repoFolder, stderrProgress } from '../src';
import { rejection } from './hub-probes';

const read = (...p: string[]) => fs.readFileSync(fixture(...p));
const TINY = {
  'config.json': read('altclip-tiny', 'config.json'),
  'model.safetensors': read('altclip-tiny', 'model.safetensors'),
  'pytorch_model.bin': read('altclip-tiny', 'pytorch_model.bin'),
  'README.md': Buffer.from('# tiny\n'),
  'sentencepiece.bpe.model': read('xlmr', 'spm.model'),
  'tokenizer_config.json': Buffer.from('{"model_max_length": 77}'),
};
const V1 = { 'config.json': TINY['config.json'], 'pytorch_model.bin': TINY['pytorch_model.bin'] };
const SHARDED = {
  'config.json': Buffer.from('{"model_type":"altclip"}'),
  'model.safetensors.index.json': Buffer.from(JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } })),
  'model-00001-of-00002.safetensors': Buffer.from('shard one'),
  'model-00002-of-00002.safetensors': Buffer.from('shard two'),
};

const REPOS = {
  'test/tiny': { revisions: { main: TINY, v1: V1 } },
  'test/sharded': { revisions: { main: SHARDED } },
  'test/gated': { revisions: { main: V1 }, gated: true },
  'test/private': { revisions: { main: V1 }, private: true },
};

let hub: FakeHub;
let cache: string;
const quiet = { onProgress: false as const, log: () => undefined };
const opts = () => ({ endpoint: hub.endpoint, cacheDir: cache, token: false as const, offline: false, ...quiet });
const cdnGets = () => hub.requests.filter((r) => r.host === 'cdn' && r.method === 'GET');

beforeEach(async () => {
  hub = await startFakeHub(REPOS);
  cache = tmpDir('altclip-hub-');
});
afterEach(async () => {
  await hub.close();
  fs.rmSync(cache, { recursive: true, force: true });
});

describe('hub ids', () => {
  test('org/name and org/name@revision; not paths', () => {
    expect(parseHubId('BAAI/AltCLIP')).toEqual({ repoId: 'BAAI/AltCLIP', revision: undefined });
    expect(parseHubId('BAAI/AltCLIP-m18@v1.0')).toEqual({ repoId: 'BAAI/AltCLIP-m18', revision: 'v1.0' });
    for (const p of ['./a/b', '/abs/x', 'a/b/c', 'name', '../x', 'a/..']) expect(parseHubId(p)).toBeUndefined();
  });

  test('settings follow the huggingface_hub environment variables', () => {
    const s = hubSettings({}, { HF_HOME: '/h', HF_ENDPOINT: 'http://mirror/', HF_TOKEN: 't', HF_HUB_OFFLINE: 'yes' });
    expect(s).toMatchObject({ endpoint: 'http://mirror', cacheDir: path.join('/h', 'hub'), token: 't', offline: true });
    expect(hubSettings({}, { HF_HOME: '/h', HF_HUB_CACHE: '/c', HF_HUB_OFFLINE: '0' })).toMatchObject({ cacheDir: '/c', offline: false, token: undefined });
    expect(hubSettings({}, { XDG_CACHE_HOME: '/x' })).toMatchObject({ cacheDir: path.join('/x', 'huggingface', 'hub'), timeoutMs: 30000 });
    expect(hubSettings({}, { HF_HUB_DOWNLOAD_TIMEOUT: '5' }).timeoutMs).toBe(5000);
  });
});

describe('snapshotDownload', () => {
  test('writes the huggingface_hub cache layout and fetches only what a model folder needs', async () => {
    const dir = await snapshotDownload('test/tiny', opts());
    const folder = repoFolder(cache, 'test/tiny');
    const commit = hub.commit('test/tiny', 'main');
    expect(dir).toBe(path.join(folder, 'snapshots', commit));
    expect(fs.readFileSync(path.join(folder, 'refs', 'main'), 'utf8')).toBe(commit);
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors', 'sentencepiece.bpe.model', 'tokenizer_config.json']);
    // LFS blobs are named by sha256, small files by their git blob id; snapshot entries are relative symlinks
    const st = path.join(dir, 'model.safetensors');
    expect(fs.readlinkSync(st)).toBe(path.join('..', '..', 'blobs', sha256(TINY['model.safetensors'])));
    expect(fs.readlinkSync(path.join(dir, 'config.json'))).toBe(path.join('..', '..', 'blobs', gitBlobId(TINY['config.json'])));
    expect(fs.readFileSync(st).equals(TINY['model.safetensors'])).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'sentencepiece.bpe.model')).equals(TINY['sentencepiece.bpe.model'])).toBe(true);
    expect(fs.readdirSync(path.join(folder, 'blobs')).some((f) => f.endsWith('.incomplete'))).toBe(false);

    // A second call asks the API for the commit, finds every file in the snapshot, and downloads nothing.
    const before = hub.requests.length;
    expect(await snapshotDownload('test/tiny', opts())).toBe(dir);
    expect(hub.requests.slice(before).map((r) => r.url)).toEqual([`/api/models/test/tiny/revision/main`]);
  });

  test('parts: a tokenizer alone does not bring the weights', async () => {
    const dir = await snapshotDownload('test/tiny', { ...opts(), parts: ['tokenizer'] });
    expect(fs.readdirSync(dir).sort()).toEqual(['sentencepiece.bpe.model', 'tokenizer_config.json']);
  });

  test('--revision: a tag gets its own snapshot and ref; a commit hash works; a wrong one says so', async () => {
    const dir = await snapshotDownload('test/tiny', { ...opts(), revision: 'v1' });
    const c1 = hub.commit('test/tiny', 'v1');
    expect(path.basename(dir)).toBe(c1);
    expect(fs.readFileSync(path.join(repoFolder(cache, 'test/tiny'), 'refs', 'v1'), 'utf8')).toBe(c1);
    // no model.safetensors at v1: the .bin is the weights
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'pytorch_model.bin']);
    expect(await snapshotDownload('test/tiny', { ...opts(), revision: c1 })).toBe(dir);
    const e = await rejection(snapshotDownload('test/tiny', { ...opts(), revision: 'v9' }));
    expect(e.kind).toBe('revision-not-found');
    expect(e.message).toContain("revision 'v9'");
  });

  test('a sharded index brings its shards', async () => {
    const dir = await snapshotDownload('test/sharded', opts());
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
  });

  test('without the API it probes files: missing ones are remembered in .no_exist', async () => {
    await hub.close();
    hub = await startFakeHub(REPOS, { api: false });
    const dir = await snapshotDownload('test/tiny', opts());
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors', 'sentencepiece.bpe.model', 'tokenizer_config.json']);
    const commit = hub.commit('test/tiny', 'main');
    expect(fs.existsSync(path.join(repoFolder(cache, 'test/tiny'), '.no_exist', commit, 'vocab.json'))).toBe(true);
    expect(hub.requests.some((r) => r.url.endsWith('/pytorch_model.bin'))).toBe(false);
  });

  test('offline: the cached snapshot without any request; nothing cached says what to do', async () => {
    const dir = await snapshotDownload('test/tiny', opts());
    await hub.close();
    const n = hub.requests.length;
    expect(await snapshotDownload('test/tiny', { ...opts(), offline: true })).toBe(dir);
    expect(await resolvePretrained('test/tiny', { ...opts(), offline: true, revision: 'main' })).toBe(dir);
    expect(hub.requests.length).toBe(n);
    const e = await rejection(resolvePretrained('test/other', { ...opts(), offline: true }));
    expect(e.kind).toBe('not-cached');
    expect(e.message).toMatch(/test\/other.*HF_HUB_OFFLINE.*not a local folder/s);
    hub = await startFakeHub(REPOS); // for afterEach
  });

  test('Hub unreachable: falls back to the cached snapshot of that revision, else a network error', async () => {
    const dir = await snapshotDownload('test/tiny', opts());
    await hub.close();
    const lines: string[] = [];
    expect(await snapshotDownload('test/tiny', { ...opts(), log: (l) => lines.push(l) })).toBe(dir);
    expect(lines.join('\n')).toContain('using the cached snapshot');
    const e = await rejection(snapshotDownload('test/sharded', opts()));
    expect(e.kind).toBe('network');
    expect(e.message).toContain(hub.endpoint.replace('http://', ''));
    hub = await startFakeHub(REPOS);
  });

  test('gated and private repos need the token, which never goes to the CDN', async () => {
    const g = await rejection(snapshotDownload('test/gated', opts()));
    expect(g.kind).toBe('gated');
    expect(g.message).toContain('HF_TOKEN');
    expect((await rejection(snapshotDownload('test/private', opts()))).kind).toBe('repo-not-found');
    expect((await rejection(snapshotDownload('test/private', { ...opts(), token: 'wrong' }))).message).toContain('not accepted');
    const dir = await snapshotDownload('test/gated', { ...opts(), token: hub.token });
    expect(fs.readFileSync(path.join(dir, 'pytorch_model.bin')).equals(V1['pytorch_model.bin'])).toBe(true);
    expect(cdnGets().length).toBe(1);
    expect(hub.requests.filter((r) => r.host === 'cdn').every((r) => !r.auth)).toBe(true);
    expect(hub.requests.filter((r) => r.host === 'hub' && r.url.startsWith('/test/gated')).every((r) => r.auth)).toBe(true);
  });

  test('a missing repo: 404 RepoNotFound, named with the endpoint', async () => {
    const e = await rejection(resolvePretrained('test/nope', opts()));
    expect(e.kind).toBe('repo-not-found');
    expect(e.message).toContain(`test/nope on ${hub.endpoint}`);
  });

  test('a transfer cut mid-file resumes with a Range request in the same call', async () => {
    const size = TINY['model.safetensors'].length;
    hub.cutOnce('model.safetensors', 50_000);
    const dir = await snapshotDownload('test/tiny', opts());
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(TINY['model.safetensors'])).toBe(true);
    const gets = cdnGets().filter((r) => r.url.endsWith(sha256(TINY['model.safetensors'])));
    expect(gets.map((r) => r.range)).toEqual([undefined, 'bytes=50000-']);
    expect(gets[0].sent + gets[1].sent).toBe(size);
  });

  test('a partial .incomplete from an earlier run is resumed, not restarted', async () => {
    const data = TINY['model.safetensors'];
    const blobs = path.join(repoFolder(cache, 'test/tiny'), 'blobs');
    fs.mkdirSync(blobs, { recursive: true });
    fs.writeFileSync(path.join(blobs, `${sha256(data)}.incomplete`), data.subarray(0, 123_456));
    const dir = await snapshotDownload('test/tiny', opts());
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(data)).toBe(true);
    const gets = cdnGets().filter((r) => r.url.endsWith(sha256(data)));
    expect(gets.map((r) => [r.range, r.sent])).toEqual([['bytes=123456-', data.length - 123_456]]);
  });

  test('bytes that do not match the LFS sha256 are rejected and deleted', async () => {
    const bad = Buffer.from(TINY['model.safetensors']);
    bad[1000] ^= 1;
    hub.corrupt('model.safetensors', bad);
    const e = await rejection(snapshotDownload('test/tiny', opts()));
    expect(e.kind).toBe('integrity');
    expect(e.message).toContain(sha256(TINY['model.safetensors']));
    const blobs = fs.readdirSync(path.join(repoFolder(cache, 'test/tiny'), 'blobs'));
    expect(blobs.filter((b) => b.startsWith(sha256(TINY['model.safetensors'])))).toEqual([]);
  });

  test('two concurrent downloads of one repo fetch each blob once (lock in .locks/)', async () => {
    const [a, b] = await Promise.all([snapshotDownload('test/tiny', opts()), snapshotDownload('test/tiny', opts())]);
    expect(a).toBe(b);
    expect(cdnGets().filter((r) => r.url.endsWith(sha256(TINY['model.safetensors']))).length).toBe(1);
    expect(fs.readFileSync(path.join(a, 'model.safetensors')).equals(TINY['model.safetensors'])).toBe(true);
    expect(fs.readdirSync(path.join(cache, '.locks', 'models--test--tiny'))).toEqual([]);
  });

  test('a lock left by a dead process is taken over', async () => {
    const locks = path.join(cache, '.locks', 'models--test--tiny');
    fs.mkdirSync(locks, { recursive: true });
    fs.writeFileSync(path.join(locks, `${sha256(TINY['model.safetensors'])}.lock`), '999999999');
    const dir = await snapshotDownload('test/tiny', opts());
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(TINY['model.safetensors'])).toBe(true);
  });

  test('progress reports reach the total', async () => {
    const seen: number[] = [];
    await snapshotDownload('test/tiny', { ...opts(), parts: ['weights'], onProgress: (p) => p.label === 'test/tiny/model.safetensors' && seen.push(p.done) });
    expect(seen[seen.length - 1]).toBe(TINY['model.safetensors'].length);
  });
});

test('stderr progress without a TTY: a line at the start and at the end, not one per chunk', () => {
  const lines: string[] = [];
  const tty = process.stderr.isTTY;
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s) => void lines.push(String(s)) || true);
  try {
    (process.stderr as any).isTTY = false;
    const bar = stderrProgress();
    for (let done = 1000; done <= 3_000_000; done += 1000) bar({ label: 'org/x/model.safetensors', done, total: 3_000_000 });
  } finally {
    (process.stderr as any).isTTY = tty;
    spy.mockRestore();
  }
  expect(lines.length).toBe(2);
  expect(lines[1]).toMatch(/^org\/x\/model.safetensors: 100% 3.0 MB\/3.0 MB, .*\/s\n$/);
});
