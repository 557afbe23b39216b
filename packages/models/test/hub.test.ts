/** fromPretrained with hub ids, served by the fake Hub: the same parameters as the local folder. */
import * as fs from 'fs';
import { setupBackend } from '@altclip/backend';
import { fixture, tmpDir, startFakeHub, FakeHub, maxAbsDiff } from '@altclip/test-utils';
import { AltCLIPModel, CLIPTextModelWithProjection, loadClipLikeModel } from '@altclip/models';

const DIR = fixture('altclip-tiny');
const TEACHER = fixture('altclip-tiny', 'teacher');
const read = (d: string, f: string) => fs.readFileSync(`${d}/${f}`);

let hub: FakeHub;
let cache: string;
let ref: AltCLIPModel;
const hubOpts = () => ({ endpoint: hub.endpoint, cacheDir: cache, token: false as const, onProgress: false as const });

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
  ref = await AltCLIPModel.fromPretrained(DIR);
  const teacherFiles = Object.fromEntries(fs.readdirSync(TEACHER).map((f) => [f, read(TEACHER, f)]));
  hub = await startFakeHub({
    'test/tiny': {
      revisions: {
        main: { 'config.json': read(DIR, 'config.json'), 'model.safetensors': read(DIR, 'model.safetensors') },
        bin: { 'config.json': read(DIR, 'config.json'), 'pytorch_model.bin': read(DIR, 'pytorch_model.bin') },
      },
    },
    'test/teacher': { revisions: { main: teacherFiles } },
  });
  cache = tmpDir('altclip-hub-models-');
});
afterAll(async () => {
  ref.dispose();
  await hub.close();
  fs.rmSync(cache, { recursive: true, force: true });
});

function expectSameParams(a: AltCLIPModel, b: AltCLIPModel) {
  const pa = a.namedParameters();
  const pb = b.namedParameters();
  expect([...pb.keys()].sort()).toEqual([...pa.keys()].sort());
  for (const [k, v] of pa) expect(maxAbsDiff(v.dataSync(), pb.get(k)!.dataSync())).toBe(0);
}

test("AltCLIPModel.fromPretrained('org/name') loads what the local folder holds", async () => {
  const m = await AltCLIPModel.fromPretrained('test/tiny', { hub: hubOpts() });
  expectSameParams(ref, m);
  m.dispose();
});

test("'org/name@revision' and hub.revision pick a revision (here one with pytorch_model.bin only)", async () => {
  const a = await AltCLIPModel.fromPretrained('test/tiny@bin', { hub: hubOpts() });
  expectSameParams(ref, a);
  a.dispose();
  const b = await loadClipLikeModel('test/tiny', { hub: { ...hubOpts(), revision: 'bin' } });
  expectSameParams(ref, b as AltCLIPModel);
  b.dispose();
});

test('a CLIP teacher by hub id', async () => {
  const local = await CLIPTextModelWithProjection.fromPretrained(TEACHER);
  const remote = await CLIPTextModelWithProjection.fromPretrained('test/teacher', { hub: hubOpts() });
  for (const [k, v] of local.namedParameters()) expect(maxAbsDiff(v.dataSync(), remote.namedParameters().get(k)!.dataSync())).toBe(0);
  local.dispose();
  remote.dispose();
});

test('neither a folder nor a hub id: a clear error', async () => {
  await expect(AltCLIPModel.fromPretrained('./no/such/folder', { hub: hubOpts() })).rejects.toThrow(/no such model folder, and not a Hugging Face hub id/);
  await expect(AltCLIPModel.fromPretrained('test/missing', { hub: hubOpts() })).rejects.toThrow(/test\/missing on .*no such model repository.*not a local folder/);
});
