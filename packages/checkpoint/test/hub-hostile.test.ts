/** Our hub client against a hostile Hub (issue 24, items 1-4): every probe of hub-probes.ts, and the messages. */
import * as fs from 'fs';
import * as path from 'path';
import { startFakeHub, tmpDir } from '@altclip/test-utils';
import { snapshotDownload, hubSettings, HubError, repoFolder } from '../src';
import { badRepoPath } from '../src/hub/guard';
import { headersFor } from '../src/hub/request';
import { FEATURES, SECURITY, WEIGHTS, CONFIG, ours, rejection, runProbe } from './hub-probes';

describe('probes', () => {
  test.each([...SECURITY, ...FEATURES].map((p) => [p.name, p] as const))('%s', async (_, p) => {
    expect(await runProbe(p, ours)).toBeUndefined();
  });
});

describe('what the refusals say', () => {
  let cache: string;
  beforeEach(() => void (cache = tmpDir('altclip-hostile-')));
  afterEach(() => fs.rmSync(cache, { recursive: true, force: true }));
  const index = (shard: string) => Buffer.from(JSON.stringify({ weight_map: { 'text.w': shard } }));
  const quiet = { onProgress: false as const, log: () => undefined, token: false as const };

  test('a weight_map value is named with its key and the index file', async () => {
    const hub = await startFakeHub({ 'e/i': { revisions: { main: { 'config.json': CONFIG, 'model.safetensors.index.json': index('a/../../b.safetensors') } } } });
    try {
      const e = await rejection(snapshotDownload('e/i', { endpoint: hub.endpoint, cacheDir: cache, ...quiet }));
      expect(e.kind).toBe('unsafe');
      expect(e.message).toMatch(/model\.safetensors\.index\.json: weight_map\["text\.w"\]: refused the file name "a\/\.\.\/\.\.\/b\.safetensors": a \.\. segment/);
    } finally {
      await hub.close();
    }
  });

  test('a bad commit or etag is named with the URL that sent it', async () => {
    const hub = await startFakeHub({ 't/p': { revisions: { main: { 'config.json': CONFIG, 'model.safetensors': WEIGHTS } } } });
    const o = { endpoint: hub.endpoint, cacheDir: cache, ...quiet };
    try {
      hub.hostile.sha = 'ABC';
      let e = await rejection(snapshotDownload('t/p', o));
      expect(e.kind).toBe('unsafe');
      expect(e.message).toContain(`${hub.endpoint}/api/models/t/p/revision/main (sha): the commit "ABC" is not 40 hex characters`);
      hub.hostile.sha = undefined;
      hub.hostile.etag = { 'model.safetensors': 'deadbeef' };
      e = await rejection(snapshotDownload('t/p', o));
      expect(e.message).toContain(`${hub.endpoint}/t/p/resolve/`);
      expect(e.message).toContain('model.safetensors: the X-Linked-Etag "deadbeef" is not a sha256 (64 hex characters)');
      hub.hostile.etag = { 'config.json': 'x/y' };
      fs.rmSync(repoFolder(cache, 't/p'), { recursive: true }); // config.json was cached by the call before
      e = await rejection(snapshotDownload('t/p', o));
      expect(e.message).toContain('config.json: the ETag "x/y" is not a git blob id');
    } finally {
      await hub.close();
    }
  });

  test('a stalled download names the timeout, keeps its bytes, and the next run resumes from them', async () => {
    const hub = await startFakeHub({ 't/p': { revisions: { main: { 'config.json': CONFIG, 'model.safetensors': WEIGHTS } } } });
    const o = { endpoint: hub.endpoint, cacheDir: cache, ...quiet, parts: ['weights' as const], timeoutMs: 500 };
    try {
      hub.hostile.stall = { file: 'model.safetensors', bytes: 1000 };
      const e = await rejection(snapshotDownload('t/p', o));
      expect(e.kind).toBe('network');
      expect(e.message).toMatch(/t\/p\/model\.safetensors: the download stalled at 1.0 kB from http:\/\/127\.0\.0\.2:\d+ \(no data for 0\.5s; HF_HUB_DOWNLOAD_TIMEOUT\); run again to resume/);
      hub.hostile.stall = undefined;
      const dir = await snapshotDownload('t/p', o);
      expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(WEIGHTS)).toBe(true);
      const gets = hub.requests.filter((r) => r.host === 'cdn' && r.method === 'GET');
      expect(gets.map((r) => r.range)).toEqual([undefined, 'bytes=1000-']);
    } finally {
      await hub.close();
    }
  });

  test('a symlinked folder inside the repository folder does not lead writes out of it', async () => {
    const hub = await startFakeHub({ 't/p': { revisions: { main: { 'config.json': CONFIG, 'model.safetensors': WEIGHTS } } } });
    const out = tmpDir('altclip-hostile-out-');
    try {
      const snapshots = path.join(repoFolder(cache, 't/p'), 'snapshots');
      fs.mkdirSync(snapshots, { recursive: true });
      fs.symlinkSync(out, path.join(snapshots, hub.commit('t/p', 'main')));
      const e = await rejection(snapshotDownload('t/p', { endpoint: hub.endpoint, cacheDir: cache, ...quiet }));
      expect(e.kind).toBe('unsafe');
      expect(e.message).toContain(`would lie outside`);
      expect(fs.readdirSync(out)).toEqual([]);
      // A cache folder that is itself a symlink (moved to another disk) is fine.
      const moved = path.join(out, 'moved');
      fs.renameSync(cache, moved);
      fs.symlinkSync(moved, cache);
      fs.rmSync(snapshots, { recursive: true });
      const dir = await snapshotDownload('t/p', { endpoint: hub.endpoint, cacheDir: cache, ...quiet });
      expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(WEIGHTS)).toBe(true);
    } finally {
      await hub.close();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('a ref file that does not hold a commit is refused, not followed', async () => {
    const folder = repoFolder(cache, 't/p');
    fs.mkdirSync(path.join(folder, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(folder, 'refs', 'main'), '../../../../elsewhere');
    const e = await rejection(snapshotDownload('t/p', { cacheDir: cache, offline: true, ...quiet }));
    expect(e.kind).toBe('unsafe');
    expect(e.message).toContain(`${path.join(folder, 'refs', 'main')}: the commit "../../../../elsewhere"`);
  });

  test('a revision or repository id that is a path is refused before any request', async () => {
    const hub = await startFakeHub({});
    try {
      for (const [repo, revision] of [['t/p', '../../x'], ['t/p', '/abs'], ['../x', 'main'], ['t/p/q', 'main']]) {
        const e = await rejection(snapshotDownload(repo, { endpoint: hub.endpoint, cacheDir: cache, revision, ...quiet }));
        expect(e.kind).toBe('unsafe');
      }
      expect(hub.requests).toEqual([]);
    } finally {
      await hub.close();
    }
  });
});

test('repository file names: what is refused and why', () => {
  const bad: Record<string, string> = {
    '../x': 'a .. segment', 'a/../../x': 'a .. segment', '..': 'a .. segment', '/etc/passwd': 'a leading /',
    'a\\..\\x': 'a backslash', 'a//b': 'an empty or . segment', './a': 'an empty or . segment', 'a/': 'an empty or . segment',
    '': 'empty', 'C:x': 'a drive letter', 'a/c:/x': 'a drive letter', 'a\u0000b': 'a control character', 'a\nb': 'a control character',
  };
  for (const [name, why] of Object.entries(bad)) expect([name, badRepoPath(name)]).toEqual([name, why]);
  for (const ok of ['model.safetensors', 'text_encoder/model-00001-of-00002.safetensors', '..foo', 'a..b/c', '.gitattributes', 'x y'])
    expect([ok, badRepoPath(ok)]).toEqual([ok, undefined]);
  expect(badRepoPath(5)).toBe('not a string (number)');
});

test('the token goes to the exact origin of the endpoint only', () => {
  const ctx = { endpoint: 'http://127.0.0.1:18081/prefix', token: 'hf_x', repoId: 'a/b', revision: 'main' };
  const auth = (url: string) => headersFor(url, ctx).authorization;
  expect(auth('http://127.0.0.1:18081/a/b/resolve/main/x')).toBe('Bearer hf_x');
  for (const other of ['http://127.0.0.1:18082/a', 'https://127.0.0.1:18081/a', 'http://localhost:18081/a', 'http://127.0.0.2:18081/a'])
    expect([other, auth(other)]).toEqual([other, undefined]);
  expect(headersFor('https://huggingface.co/x', { ...ctx, endpoint: 'https://huggingface.co:443' }).authorization).toBe('Bearer hf_x');
});

test('bad HF_* numbers and endpoints are errors naming the variable and value', () => {
  const err = (env: Record<string, string>) => {
    try {
      hubSettings({}, env);
    } catch (e) {
      return [(e as HubError).kind, (e as Error).message];
    }
    return undefined;
  };
  for (const v of ['abc', '-1', '0', '1e3', '30s', 'NaN', 'Infinity', '99999999']) {
    expect(err({ HF_HUB_DOWNLOAD_TIMEOUT: v })).toEqual(['setting', expect.stringContaining(`HF_HUB_DOWNLOAD_TIMEOUT="${v}": not a number of seconds`)]);
    expect(err({ HF_HUB_ETAG_TIMEOUT: v })).toEqual(['setting', expect.stringContaining(`HF_HUB_ETAG_TIMEOUT="${v}"`)]);
  }
  for (const v of ['huggingface.co', 'ftp://x', 'http://user:pw@x', 'http://x/?q=1'])
    expect(err({ HF_ENDPOINT: v })).toEqual(['setting', expect.stringContaining(`HF_ENDPOINT="${v}": not an http(s) URL`)]);
  expect(hubSettings({}, { HF_HUB_DOWNLOAD_TIMEOUT: ' 2.5 ', HF_HUB_ETAG_TIMEOUT: '' })).toMatchObject({ timeoutMs: 2500, etagTimeoutMs: 2500 });
  expect(hubSettings({}, { HF_HUB_ETAG_TIMEOUT: '7' })).toMatchObject({ timeoutMs: 30000, etagTimeoutMs: 7000 });
  expect(() => hubSettings({ timeoutMs: 0 }, {})).toThrow(/timeoutMs=0/);
});
