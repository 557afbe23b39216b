import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { CheckpointReader, gatherStrided, openSafetensors, openTorchBin } from '@altclip/checkpoint';
import { PickleWriter, ViewSpec, makeZip, stateDictPickle, torchZip } from './torchzip';

const dir = tmpDir('altclip-ckpt-torch-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function withReader<T>(file: string, f: (r: CheckpointReader) => Promise<T>): Promise<T> {
  const r = await openTorchBin(file);
  try {
    return await f(r);
  } finally {
    await r.close();
  }
}

function write(name: string, bytes: Buffer): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  return f;
}

/** Reference for a strided view: out[i] = src[offset + sum_d idx_d(i) * stride_d], idx from row-major i. */
function refView(src: ArrayLike<number>, offset: number, shape: number[], stride: number[]): number[] {
  const n = shape.reduce((a, d) => a * d, 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let rem = i;
    let s = offset;
    for (let d = shape.length - 1; d >= 0; d--) {
      s += (rem % shape[d]) * stride[d];
      rem = Math.floor(rem / shape[d]);
    }
    out.push(src[s]);
  }
  return out;
}

const f32Bytes = (v: number[]) => Buffer.from(new Float32Array(v).buffer);
const iota = (n: number, scale = 1) => Array.from({ length: n }, (_, i) => (i - 7) * scale);

describe('pytorch_model.bin fixture', () => {
  test('yields the same keys, shapes and values as model.safetensors', async () => {
    const st = await openSafetensors(fixture('altclip-tiny', 'model.safetensors'));
    try {
      await withReader(fixture('altclip-tiny', 'pytorch_model.bin'), async (pt) => {
        expect(pt.format).toBe('pytorch');
        expect([...pt.keys()].sort()).toEqual([...st.keys()].sort());
        expect(pt.keys()).toContain('text_model.roberta.embeddings.word_embeddings.weight');
        expect(pt.info('text_model.roberta.embeddings.word_embeddings.weight')).toEqual({ dtype: 'F32', shape: [250, 32] });
        expect(pt.info('logit_scale')).toEqual({ dtype: 'F32', shape: [] });
        for (const k of st.keys()) {
          expect(pt.info(k)).toEqual(st.info(k));
          const a = await pt.read(k);
          const b = await st.read(k);
          expect(a.shape).toEqual(b.shape);
          expect(a.dtype).toBe('float32');
          expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true); // bit-identical
          // results may be zero-copy views of the read buffer, but never of a shared pool
          expect([a.data.byteOffset, a.data.buffer.byteLength, b.data.buffer.byteLength]).toEqual([0, a.data.byteLength, b.data.byteLength]);
        }
      });
    } finally {
      await st.close();
    }
  });
});

describe('strided views', () => {
  const cases: Array<[string, number, number[], number[]]> = [
    ['transpose', 2, [3, 4], [1, 3]],
    ['narrowed rows', 5, [2, 3], [6, 2]],
    ['broadcast (stride 0)', 1, [3, 2, 2], [0, 4, 1]],
    ['4-d permute', 0, [2, 2, 3, 2], [1, 12, 2, 6]],
    ['scalar', 9, [], []],
    ['empty', 3, [0, 4], [4, 1]],
  ];
  test.each(cases)('gatherStrided matches the index-formula reference: %s', (_n, offset, shape, stride) => {
    const src = new Float32Array(iota(40, 0.5));
    const got = new Float32Array(gatherStrided(new Uint8Array(src.buffer), 4, offset, shape, stride).buffer);
    expect(Array.from(got)).toEqual(refView(src, offset, shape, stride));
  });

  test('views of shared storages, all storage dtypes, Parameters and OrderedDict, zip64', async () => {
    const floatStore = iota(48, 0.25);
    const i64 = Buffer.alloc(8 * 6);
    const i64vals = [-3, 0, 2147483647, -2147483648, 5, 7];
    i64vals.forEach((v, i) => i64.writeBigInt64LE(BigInt(v), i * 8));
    const half = Buffer.from(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000]).buffer); // 1 -2 .5 65504 2^-24 -0
    const bf16 = Buffer.from(new Uint16Array([0x3f80, 0xc000, 0x4049, 0xbe80]).buffer); // 1 -2 3.140625 -0.25
    const views: ViewSpec[] = [
      { key: 'w.t', storageType: 'FloatStorage', storageKey: '0', storageNumel: 48, offset: 3, shape: [4, 5], stride: [1, 4] },
      { key: 'w.slice', storageType: 'FloatStorage', storageKey: '0', storageNumel: 48, offset: 10, shape: [3, 2], stride: [8, 3] },
      { key: 'w.full', storageType: 'FloatStorage', storageKey: '0', storageNumel: 48, offset: 0, shape: [6, 8], stride: [8, 1] },
      { key: 'ids', storageType: 'LongStorage', storageKey: '1', storageNumel: 6, offset: 0, shape: [2, 3], stride: [1, 2] },
      { key: 'h', storageType: 'HalfStorage', storageKey: '2', storageNumel: 6, offset: 0, shape: [6], stride: [1] },
      { key: 'b', storageType: 'BFloat16Storage', storageKey: '3', storageNumel: 4, offset: 1, shape: [3], stride: [1] },
      { key: 'mask', storageType: 'BoolStorage', storageKey: '4', storageNumel: 3, offset: 0, shape: [3], stride: [1] },
    ];
    const storages = { '0': f32Bytes(floatStore), '1': i64, '2': half, '3': bf16, '4': Buffer.from([1, 0, 1]) };
    for (const variant of [{ zip64: false, ordered: false, parameters: false }, { zip64: true, ordered: true, parameters: true }]) {
      const file = write(`views-${variant.zip64}.bin`, torchZip(stateDictPickle(views, variant), storages, variant));
      await withReader(file, async (r) => {
        expect(r.keys()).toEqual(views.map((v) => v.key));
        for (const v of views.slice(0, 3)) {
          const t = await r.read(v.key);
          expect(t.shape).toEqual(v.shape);
          expect(Array.from(t.data)).toEqual(refView(floatStore, v.offset, v.shape, v.stride));
        }
        expect(r.info('ids')).toEqual({ dtype: 'I64', shape: [2, 3] });
        expect(await r.read('ids')).toEqual({ dtype: 'int32', shape: [2, 3], data: Int32Array.from(refView(i64vals, 0, [2, 3], [1, 2])) });
        expect(Array.from((await r.read('h')).data)).toEqual([1, -2, 0.5, 65504, 2 ** -24, -0]);
        expect(Array.from((await r.read('b')).data)).toEqual([-2, 3.140625, -0.25]);
        expect(await r.read('mask')).toEqual({ dtype: 'uint8', shape: [3], data: Uint8Array.from([1, 0, 1]) });
      });
    }
  });
});

describe('errors name the file and the problem', () => {
  const good = () => stateDictPickle([{ key: 'a', storageType: 'FloatStorage', storageKey: '0', storageNumel: 4, offset: 0, shape: [4], stride: [1] }]);
  const store = { '0': f32Bytes([1, 2, 3, 4]) };

  test('missing file', async () => {
    await expect(openTorchBin(path.join(dir, 'nope.bin'))).rejects.toThrow(/nope\.bin: file not found/);
  });
  test('truncated zip', async () => {
    const bytes = fs.readFileSync(fixture('altclip-tiny', 'pytorch_model.bin'));
    const f = write('truncated.bin', bytes.subarray(0, bytes.length - 100));
    await expect(openTorchBin(f)).rejects.toThrow(/truncated\.bin: truncated or not a zip file/);
  });
  test('unknown pickle opcode', async () => {
    const pkl = good();
    const bad = Buffer.concat([pkl.subarray(0, 2), Buffer.from([0x81]), pkl.subarray(2)]); // NEWOBJ after PROTO
    const f = write('opcode.bin', torchZip(bad, store));
    await expect(openTorchBin(f)).rejects.toThrow(/opcode\.bin.*unsupported opcode 0x81 \(NEWOBJ\)/);
  });
  test('unsupported class', async () => {
    const pkl = new PickleWriter().op(0x80, 2).global('os', 'system').op(0x2e).bytes();
    await expect(openTorchBin(write('class.bin', torchZip(pkl, {})))).rejects.toThrow(/class\.bin.*unsupported class os\.system/);
  });
  test('legacy storage bytes', async () => {
    const pkl = new PickleWriter().op(0x80, 2).global('torch.storage', '_load_from_bytes').op(0x2e).bytes();
    await expect(openTorchBin(write('bytes.bin', torchZip(pkl, {})))).rejects.toThrow(/torch\.storage\._load_from_bytes.*torch>=1\.6/);
  });
  test('legacy (non-zip) format', async () => {
    const legacy = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
    await expect(openTorchBin(write('legacy.bin', legacy))).rejects.toThrow(/legacy\.bin: legacy \(non-zip\).*torch>=1\.6/);
  });
  test('storage missing or too small, view out of range', async () => {
    await expect(openTorchBin(write('nostore.bin', torchZip(good(), {})))).rejects.toThrow(/nostore\.bin: tensor 'a': storage data\/0 is missing/);
    await expect(openTorchBin(write('small.bin', torchZip(good(), { '0': f32Bytes([1, 2]) })))).rejects.toThrow(/small\.bin: tensor 'a': storage data\/0 has 8 bytes, expected 4 x 4/);
    const pkl = stateDictPickle([{ key: 'a', storageType: 'FloatStorage', storageKey: '0', storageNumel: 4, offset: 1, shape: [2, 2], stride: [2, 1] }]);
    await expect(openTorchBin(write('range.bin', torchZip(pkl, store)))).rejects.toThrow(/range\.bin: tensor 'a': view .* reaches element 4 of a 4-element storage/);
  });
  test('compressed members, non-tensor entries, truncated pickle', async () => {
    const z = torchZip(good(), store);
    const entries = z.indexOf(Buffer.from('PK\x01\x02', 'latin1'));
    z.writeUInt16LE(8, entries + 10); // first central entry (data.pkl) claims DEFLATE
    await expect(openTorchBin(write('deflate.bin', z))).rejects.toThrow(/deflate\.bin: zip member 'archive\/data\.pkl' is compressed/);
    const notTensor = new PickleWriter().op(0x80, 2, 0x7d).str('step').int(3).op(0x73, 0x2e).bytes();
    await expect(openTorchBin(write('step.bin', torchZip(notTensor, {})))).rejects.toThrow(/step\.bin: state dict entry 'step' is a number, not a tensor/);
    // OrderedDict([(k, v)]) passes its items as a REDUCE argument
    const od = new PickleWriter().op(0x80, 2).global('collections', 'OrderedDict').mark().mark().str('k').str('v').tuple().op(0x6c, 0x85, 0x52, 0x2e).bytes();
    await expect(openTorchBin(write('od.bin', torchZip(od, {})))).rejects.toThrow(/od\.bin: state dict entry 'k' is a string, not a tensor/);
    const cut = good().subarray(0, 40);
    await expect(openTorchBin(write('cut.bin', torchZip(cut, store)))).rejects.toThrow(/cut\.bin.*pickle: truncated/);
  });
  test('a plain zip without data.pkl', async () => {
    const f = write('plain.zip', makeZip([{ name: 'x/readme.txt', data: Buffer.from('hi') }]));
    await expect(openTorchBin(f)).rejects.toThrow(/plain\.zip: no <prefix>\/data\.pkl/);
  });
});
