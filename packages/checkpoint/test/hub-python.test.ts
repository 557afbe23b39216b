/**
 * Optional: the cache is shared with Python's huggingface_hub in both directions. Runs where a python with
 * huggingface_hub exists (ALTCLIP_HF_PYTHON, else /opt/torch2/bin/python or python3); skipped otherwise.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir, startFakeHub, FakeHub } from '@altclip/test-utils';
import { snapshotDownload, repoFolder } from '../src';

const candidates = process.env.ALTCLIP_HF_PYTHON ? [process.env.ALTCLIP_HF_PYTHON] : ['/opt/torch2/bin/python', 'python3'];
const python = candidates.find((p) => spawnSync(p, ['-c', 'import huggingface_hub'], { stdio: 'ignore' }).status === 0);
const maybe = python ? describe : describe.skip;

const FILES = {
  'config.json': fs.readFileSync(fixture('altclip-tiny', 'config.json')),
  'model.safetensors': fs.readFileSync(fixture('altclip-tiny', 'model.safetensors')),
  'sentencepiece.bpe.model': fs.readFileSync(fixture('xlmr', 'spm.model')),
};

/** Runs python asynchronously (the fake Hub lives in this process) and returns its stdout lines. */
function py(script: string, env: Record<string, string>): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(python!, ['-c', script], { env: { ...process.env, HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_HUB_DISABLE_TELEMETRY: '1', ...env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`python exited ${code}: ${err}`))));
  });
}

maybe('huggingface_hub interop', () => {
  let hub: FakeHub;
  let cache: string;
  beforeEach(async () => {
    hub = await startFakeHub({ 'test/tiny': { revisions: { main: FILES } } });
    cache = tmpDir('altclip-hubpy-');
  });
  afterEach(async () => {
    await hub.close();
    fs.rmSync(cache, { recursive: true, force: true });
  });

  test('a cache written by huggingface_hub is used offline', async () => {
    const lines = await py(
      `from huggingface_hub import hf_hub_download\nfor f in ['config.json', 'model.safetensors', 'sentencepiece.bpe.model']: print(hf_hub_download('test/tiny', f))`,
      { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache },
    );
    const dir = await snapshotDownload('test/tiny', { cacheDir: cache, offline: true, onProgress: false });
    expect(lines.map((l) => path.dirname(l))).toEqual([dir, dir, dir]);
    for (const [f, data] of Object.entries(FILES)) expect(fs.readFileSync(path.join(dir, f)).equals(data)).toBe(true);
  });

  test('huggingface_hub finds offline what was downloaded here', async () => {
    const dir = await snapshotDownload('test/tiny', { endpoint: hub.endpoint, cacheDir: cache, token: false, onProgress: false });
    const lines = await py(
      `from huggingface_hub import hf_hub_download, snapshot_download\n` +
        `print(snapshot_download('test/tiny', local_files_only=True))\n` +
        `print(hf_hub_download('test/tiny', 'model.safetensors', local_files_only=True))`,
      { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' },
    );
    expect(lines).toEqual([dir, path.join(dir, 'model.safetensors')]);
    expect(fs.existsSync(path.join(repoFolder(cache, 'test/tiny'), 'refs', 'main'))).toBe(true);
  });
});
