/**
 * The official @huggingface/hub client (a devDependency) through the probes ours passes (hub-probes.ts): issue 24
 * item 5. Its results are pinned below and reported in docs/hub.md; when a new version changes one, this test
 * fails, and the choice to keep our client is to be made again.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FEATURES, HubClient, SECURITY, runProbe } from './hub-probes';

type Official = typeof import('@huggingface/hub');
let official: Official | undefined;
try {
  official = require('@huggingface/hub') as Official;
} catch {
  official = undefined; // not installed (npm install --include=dev brings it)
}

/** Loopback only: the official client defaults to https://huggingface.co, which a test must never reach. */
function loopbackFetch(offline: boolean): typeof fetch {
  return (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    if (offline) return Promise.reject(new TypeError(`offline, yet asked ${url}`));
    if (!/^127\./.test(url.hostname)) return Promise.reject(new TypeError(`refused to reach ${url.origin} from a test`));
    return fetch(input, init);
  };
}

/**
 * How we would use it: snapshotDownload for the repository (it writes refs/ and snapshots/<commit>), then
 * downloadFileToCacheDir at that commit for the shards an index names. Settings are passed as it takes them
 * (hubUrl, accessToken, cacheDir); offline is a fetch that refuses, since it has no offline mode.
 */
const theirs = (hub: Official): HubClient => ({
  name: '@huggingface/hub',
  async fetchModel(repoId, o) {
    const params = { repo: repoId, revision: o.revision, hubUrl: o.endpoint, accessToken: o.token, cacheDir: o.cacheDir, fetch: loopbackFetch(!!o.offline) };
    const dir = await hub.snapshotDownload(params);
    const index = path.join(dir, 'model.safetensors.index.json');
    if (fs.existsSync(index)) {
      const shards = new Set(Object.values(JSON.parse(fs.readFileSync(index, 'utf8')).weight_map as Record<string, string>));
      for (const shard of shards) await hub.downloadFileToCacheDir({ ...params, path: shard, revision: path.basename(dir) });
    }
    return dir;
  },
});

/** @huggingface/hub 2.17.5 on this fake Hub: where it passes (docs/hub.md gives the reasons for the others). */
const PASSES = new Set([
  'index-traversal', 'index-outside-read', 'index-absolute', 'index-backslash', 'sha-traversal-no-api', 'sibling-traversal',
  'token-other-port-resolve', 'token-other-port-api', 'layout',
]);

// Its exports map hides package.json: read it beside dist/.
const version = official ? JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('@huggingface/hub')), '..', 'package.json'), 'utf8')).version : 'not installed';

(official ? describe : describe.skip)(`@huggingface/hub ${version}`, () => {
  // It logs each download (debug) and each symlink it could not make (info).
  beforeAll(() => {
    jest.spyOn(console, 'debug').mockImplementation(() => undefined);
    jest.spyOn(console, 'info').mockImplementation(() => undefined);
  });
  const results: string[] = [];
  afterAll(() => {
    if (process.env.ALTCLIP_PRINT_PROBES) console.log(results.join('\n'));
  });
  test.each([...SECURITY, ...FEATURES].map((p) => [p.name, p] as const))('%s', async (name, p) => {
    const why = await runProbe(p, theirs(official!));
    results.push(`| ${name} | ${why === undefined ? 'passes' : `fails: ${why.replace(/\n/g, ' ').slice(0, 300)}`} |`);
    expect({ name, passes: why === undefined }).toEqual({ name, passes: PASSES.has(name) });
  });
});
