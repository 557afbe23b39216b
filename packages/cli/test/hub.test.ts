/** `--model org/name`, `--revision`, `--offline` end to end against the fake Hub. */
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir, startFakeHub, FakeHub } from '@altclip/test-utils';
import { main } from '@altclip/cli';
import { openSafetensors } from '@altclip/checkpoint';
import { makeTinyModelDir } from '../../eval/test/tiny-model';

let work: string;
let modelDir: string;
let hub: FakeHub;
let texts: string;
const saved = { ...process.env };

beforeAll(async () => {
  work = tmpDir('altclip-cli-hub-');
  modelDir = await makeTinyModelDir(path.join(work, 'model'));
  const files = Object.fromEntries(fs.readdirSync(modelDir).map((f) => [f, fs.readFileSync(path.join(modelDir, f))]));
  hub = await startFakeHub({ 'test/tiny': { revisions: { main: files } } });
  texts = path.join(work, 'texts.txt');
  fs.writeFileSync(texts, '一只猫\na dog\n');
  Object.assign(process.env, { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: path.join(work, 'hf'), HF_HUB_DISABLE_PROGRESS_BARS: '1' });
  delete process.env.HF_TOKEN;
  delete process.env.HF_HUB_OFFLINE;
});
afterAll(async () => {
  process.env = saved;
  await hub.close();
  fs.rmSync(work, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<void> {
  const spy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await main(args);
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
}

async function embeds(file: string): Promise<Float32Array> {
  const r = await openSafetensors(file);
  try {
    return (await r.read('text_embeds')).data as Float32Array;
  } finally {
    await r.close();
  }
}

test('embed --model org/name downloads into HF_HUB_CACHE and matches the local folder; --offline reuses it', async () => {
  await cli(['embed', '--backend', 'cpu', '--model', modelDir, '--texts', texts, '--out', path.join(work, 'local.safetensors')]);
  await cli(['embed', '--backend', 'cpu', '--model', 'test/tiny', '--revision', 'main', '--texts', texts, '--out', path.join(work, 'hub.safetensors')]);
  const local = await embeds(path.join(work, 'local.safetensors'));
  expect(Array.from(await embeds(path.join(work, 'hub.safetensors')))).toEqual(Array.from(local));
  const snap = path.join(work, 'hf', 'models--test--tiny', 'snapshots', hub.commit('test/tiny', 'main'));
  expect(fs.readdirSync(snap).sort()).toEqual(['config.json', 'model.safetensors', 'sentencepiece.bpe.model']);

  const n = hub.requests.length;
  await cli(['embed', '--backend', 'cpu', '--model', 'test/tiny', '--offline', '--texts', texts, '--out', path.join(work, 'offline.safetensors')]);
  expect(hub.requests.length).toBe(n);
  expect(Array.from(await embeds(path.join(work, 'offline.safetensors')))).toEqual(Array.from(local));
  delete process.env.HF_HUB_OFFLINE;
});

test('--revision with no hub id named is an error, as is an unknown revision', async () => {
  await expect(cli(['embed', '--model', modelDir, '--revision', 'v1', '--texts', texts, '--out', path.join(work, 'x.safetensors')])).rejects.toThrow(/applies to hub ids only/);
  await expect(cli(['embed', '--backend', 'cpu', '--model', 'test/tiny', '--revision', 'v9', '--texts', texts, '--out', path.join(work, 'x.safetensors')])).rejects.toThrow(/revision 'v9' not found/);
});
