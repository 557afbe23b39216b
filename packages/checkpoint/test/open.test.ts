import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { loadStateDict, openCheckpoint, openSafetensors, writeSafetensors, TensorData } from '@altclip/checkpoint';
import { stateDictPickle, torchZip } from './torchzip';

const dir = tmpDir('altclip-ckpt-open-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const TINY = () => fixture('altclip-tiny');

function sameTensor(a: TensorData, b: TensorData) {
  expect(a.shape).toEqual(b.shape);
  expect(a.dtype).toBe(b.dtype);
  expect(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength))).toBe(true);
}

describe('sharded checkpoints', () => {
  test('2-shard safetensors index round trip equals the single file', async () => {
    const ref = await loadStateDict(fixture('altclip-tiny', 'model.safetensors'));
    const keys = [...ref.keys()].sort();
    const halves = [keys.slice(0, 40), keys.slice(40)];
    const sub = path.join(dir, 'sharded-st');
    const weightMap: Record<string, string> = {};
    for (let i = 0; i < 2; i++) {
      const name = `model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensors(path.join(sub, name), new Map(halves[i].map((k) => [k, ref.get(k)!])), { format: 'pt' });
      for (const k of halves[i]) weightMap[k] = name;
    }
    fs.writeFileSync(path.join(sub, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 195000 }, weight_map: weightMap }));
    const r = await openCheckpoint(sub); // directory -> finds the index
    expect(r.format).toBe('sharded');
    expect(r.metadata).toEqual({ total_size: '195000' });
    expect(r.keys().sort()).toEqual(keys);
    for (const k of keys) {
      expect(r.info(k).shape).toEqual(ref.get(k)!.shape);
      sameTensor(await r.read(k), ref.get(k)!);
    }
    await r.close();
  });

  test('pytorch_model.bin.index.json over .bin shards', async () => {
    const sub = path.join(dir, 'sharded-bin');
    fs.mkdirSync(sub);
    fs.copyFileSync(fixture('altclip-tiny', 'pytorch_model.bin'), path.join(sub, 'pytorch_model-00001-of-00002.bin'));
    const extra = stateDictPickle([{ key: 'extra.weight', storageType: 'FloatStorage', storageKey: '0', storageNumel: 3, offset: 0, shape: [3], stride: [1] }]);
    fs.writeFileSync(path.join(sub, 'pytorch_model-00002-of-00002.bin'), torchZip(extra, { '0': Buffer.from(new Float32Array([1, 2, 3]).buffer) }));
    const ref = await openSafetensors(fixture('altclip-tiny', 'model.safetensors'));
    const weightMap: Record<string, string> = { 'extra.weight': 'pytorch_model-00002-of-00002.bin' };
    for (const k of ref.keys()) weightMap[k] = 'pytorch_model-00001-of-00002.bin';
    fs.writeFileSync(path.join(sub, 'pytorch_model.bin.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const sd = await loadStateDict(sub);
    expect(sd.size).toBe(ref.keys().length + 1);
    expect(Array.from(sd.get('extra.weight')!.data)).toEqual([1, 2, 3]);
    sameTensor(sd.get('logit_scale')!, await ref.read('logit_scale'));
    await ref.close();
  });

  test('a key in the index that its shard lacks is an error naming both', async () => {
    const sub = path.join(dir, 'sharded-bad');
    await writeSafetensors(path.join(sub, 'a.safetensors'), { x: { shape: [1], data: new Float32Array([1]) } });
    const idx = path.join(sub, 'model.safetensors.index.json');
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { x: 'a.safetensors', y: 'a.safetensors' } }));
    await expect(openCheckpoint(idx)).rejects.toThrow(/model\.safetensors\.index\.json: key 'y' is listed in the index but missing in its shard .*a\.safetensors/);
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { x: 'b.safetensors' } }));
    await expect(openCheckpoint(idx)).rejects.toThrow(/b\.safetensors: file not found/);
    fs.writeFileSync(idx, '{"weight_map": ');
    await expect(openCheckpoint(idx)).rejects.toThrow(/index\.json: invalid JSON/);
    fs.writeFileSync(idx, '{"metadata": {}}');
    await expect(openCheckpoint(idx)).rejects.toThrow(/index\.json: no "weight_map" object/);
  });

  test('a weight_map value that leaves the folder is refused, even where the file exists', async () => {
    const sub = path.join(dir, 'sharded-escape', 'model');
    fs.mkdirSync(sub, { recursive: true });
    await writeSafetensors(path.join(dir, 'sharded-escape', 'outside.safetensors'), { x: { shape: [1], data: new Float32Array([1]) } });
    const idx = path.join(sub, 'model.safetensors.index.json');
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { x: '../outside.safetensors' } }));
    await expect(openCheckpoint(sub)).rejects.toThrow(/index\.json: weight_map\['x'\] = "\.\.\/outside\.safetensors" is not a file of this folder \(a \.\. segment\)/);
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { x: path.join(dir, 'sharded-escape', 'outside.safetensors') } }));
    await expect(openCheckpoint(sub)).rejects.toThrow(/is not a file of this folder \(a leading \/\)/);
  });
});

describe('openCheckpoint', () => {
  test('a model directory prefers model.safetensors; files are recognised by magic bytes', async () => {
    const r = await openCheckpoint(TINY());
    expect(r.format).toBe('safetensors');
    expect(r.path).toBe(path.join(TINY(), 'model.safetensors'));
    await r.close();
    const sub = path.join(dir, 'binonly');
    fs.mkdirSync(sub);
    fs.copyFileSync(fixture('altclip-tiny', 'pytorch_model.bin'), path.join(sub, 'pytorch_model.bin'));
    fs.copyFileSync(fixture('altclip-tiny', 'model.safetensors'), path.join(sub, 'weights.dat'));
    const b = await openCheckpoint(sub);
    expect(b.format).toBe('pytorch');
    await b.close();
    const s = await openCheckpoint(path.join(sub, 'weights.dat'));
    expect(s.format).toBe('safetensors');
    await s.close();
  });

  test('errors list what was looked for', async () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    await expect(openCheckpoint(empty)).rejects.toThrow(/empty: no checkpoint in this directory \(looked for model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json\)/);
    await expect(openCheckpoint(path.join(dir, 'missing'))).rejects.toThrow(/missing: file or directory not found/);
    fs.writeFileSync(path.join(dir, 'junk.bin'), 'hello world, not a checkpoint');
    await expect(openCheckpoint(path.join(dir, 'junk.bin'))).rejects.toThrow(/junk\.bin: unrecognised checkpoint format/);
  });

  test('loadStateDict filters keys', async () => {
    const sd = await loadStateDict(fixture('altclip-tiny', 'pytorch_model.bin'), { filter: /^visual_projection\./ });
    expect([...sd.keys()]).toEqual(['visual_projection.weight']);
    expect(sd.get('visual_projection.weight')!.shape).toEqual([16, 32]);
    const sd2 = await loadStateDict(TINY(), { filter: (k) => k === 'logit_scale' });
    expect([...sd2.keys()]).toEqual(['logit_scale']);
  });
});
