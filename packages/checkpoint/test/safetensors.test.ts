import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { DType, TensorToWrite, atomicWriteFile, openSafetensors, writeSafetensors } from '@altclip/checkpoint';

const dir = tmpDir('altclip-ckpt-st-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Hand-built safetensors bytes (header JSON given verbatim), independent of writeSafetensors. */
function rawFile(name: string, header: string | object, data: Buffer, lenOverride?: number): string {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(lenOverride ?? h.length));
  const f = path.join(dir, name);
  fs.writeFileSync(f, Buffer.concat([len, h, data]));
  return f;
}

describe('reading', () => {
  test('fixture model and teacher open with HF key names and metadata', async () => {
    const r = await openSafetensors(fixture('altclip-tiny', 'model.safetensors'));
    expect(r.metadata).toEqual({ format: 'pt' });
    expect(r.info('text_model.roberta.embeddings.word_embeddings.weight')).toEqual({ dtype: 'F32', shape: [250, 32] });
    expect(r.info('vision_model.embeddings.patch_embedding.weight')).toEqual({ dtype: 'F32', shape: [32, 3, 8, 8] });
    await r.close();
    const t = await openSafetensors(fixture('altclip-tiny', 'teacher', 'model.safetensors'));
    expect(t.keys().length).toBeGreaterThan(10);
    const emb = await t.read('text_model.embeddings.token_embedding.weight');
    expect(emb.shape).toEqual([300, 24]);
    expect(emb.data.length).toBe(300 * 24);
    await t.close();
  });

  test('decodes every dtype from hand-written bytes', async () => {
    const parts: Buffer[] = [];
    const header: Record<string, object> = { __metadata__: { who: 'test' } };
    let off = 0;
    const add = (name: string, dtype: string, shape: number[], b: Buffer) => {
      header[name] = { dtype, shape, data_offsets: [off, off + b.length] };
      off += b.length;
      parts.push(b);
    };
    const i64 = Buffer.alloc(16);
    i64.writeBigInt64LE(-5n, 0);
    i64.writeBigInt64LE(2147483647n, 8);
    const f64 = Buffer.alloc(16);
    f64.writeDoubleLE(0.1, 0);
    f64.writeDoubleLE(-3.5, 8);
    add('f32', 'F32', [2], Buffer.from(new Float32Array([1.5, -2]).buffer));
    add('f64', 'F64', [2], f64);
    add('f16', 'F16', [3], Buffer.from(new Uint16Array([0x3c00, 0xc000, 0x7c00]).buffer));
    add('bf16', 'BF16', [2], Buffer.from(new Uint16Array([0x3f80, 0xc049]).buffer));
    add('i64', 'I64', [2], i64);
    add('i32', 'I32', [1], Buffer.from(new Int32Array([-7]).buffer));
    add('i16', 'I16', [1], Buffer.from(new Int16Array([-300]).buffer));
    add('i8', 'I8', [1], Buffer.from([0xff]));
    add('u8', 'U8', [2], Buffer.from([0, 255]));
    add('bool', 'BOOL', [2], Buffer.from([1, 0]));
    const r = await openSafetensors(rawFile('dtypes.safetensors', header, Buffer.concat(parts)));
    expect(r.metadata).toEqual({ who: 'test' });
    const v = async (k: string) => Array.from((await r.read(k)).data);
    expect(await v('f32')).toEqual([1.5, -2]);
    expect(await v('f64')).toEqual([Math.fround(0.1), -3.5]);
    expect(await v('f16')).toEqual([1, -2, Infinity]);
    expect(await v('bf16')).toEqual([1, -3.140625]);
    expect(await r.read('i64')).toEqual({ dtype: 'int32', shape: [2], data: Int32Array.from([-5, 2147483647]) });
    expect(await v('i32')).toEqual([-7]);
    expect(await v('i16')).toEqual([-300]);
    expect(await v('i8')).toEqual([-1]);
    expect((await r.read('u8')).dtype).toBe('uint8');
    expect(await v('u8')).toEqual([0, 255]);
    expect(await v('bool')).toEqual([1, 0]);
    await r.close();
  });

  test('int64 values outside int32 are an error naming the tensor', async () => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(2147483648n);
    const r = await openSafetensors(rawFile('big.safetensors', { ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, b));
    await expect(r.read('ids')).rejects.toThrow(/big\.safetensors: tensor 'ids': int64 value 2147483648 at index 0 does not fit int32/);
    await r.close();
  });

  test('reads one tensor at a time: a tensor before a truncation still reads', async () => {
    const f = path.join(dir, 'partial.safetensors');
    await writeSafetensors(f, { a: { shape: [4], data: new Float32Array([1, 2, 3, 4]) }, b: { shape: [1000], data: new Float32Array(1000).fill(7) } });
    const r = await openSafetensors(f);
    fs.truncateSync(f, fs.statSync(f).size - 2000); // cut into 'b' after the header was validated
    expect(Array.from((await r.read('a')).data)).toEqual([1, 2, 3, 4]);
    await expect(r.read('b')).rejects.toThrow(/partial\.safetensors: tensor 'b': short read/);
    await r.close();
  });
});

describe('header validation errors name the file and the problem', () => {
  const t = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const eight = Buffer.alloc(8);
  test.each<[string, () => string, RegExp]>([
    ['missing file', () => path.join(dir, 'absent.safetensors'), /absent\.safetensors: file not found/],
    ['shorter than 8 bytes', () => { const f = path.join(dir, 'tiny.safetensors'); fs.writeFileSync(f, Buffer.from([1, 2])); return f; }, /tiny\.safetensors: truncated header/],
    ['truncated header', () => rawFile('trunc.safetensors', { a: t }, eight, 5000), /trunc\.safetensors: truncated header: header length 5000/],
    ['invalid JSON', () => rawFile('json.safetensors', '{"a": {"dtype": "F32",', eight), /json\.safetensors: invalid JSON header/],
    ['not an object', () => rawFile('arr.safetensors', '[1,2]', eight), /arr\.safetensors: invalid header: not a JSON object/],
    ['unknown dtype', () => rawFile('dtype.safetensors', { a: { ...t, dtype: 'F8_E4M3' } }, eight), /dtype\.safetensors: tensor 'a': unknown dtype "F8_E4M3"/],
    ['out-of-range offsets', () => rawFile('range.safetensors', { a: { ...t, data_offsets: [4, 12] } }, eight), /range\.safetensors: tensor 'a': data_offsets \[4, 12\] out of range \(data section is 8 bytes: the file is truncated, or its header is wrong\)/],
    ['overlapping offsets', () => rawFile('overlap.safetensors', { a: { ...t, data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight), /overlap\.safetensors: overlapping data_offsets: tensor 'a' \[0, 8\] and 'b' \[4, 8\]/],
    ['bytes vs shape', () => rawFile('shape.safetensors', { a: { ...t, shape: [3] } }, eight), /shape\.safetensors: tensor 'a': byte count 8 does not match shape \[3\] F32 \(expected 12 bytes\)/],
    ['bad shape', () => rawFile('neg.safetensors', { a: { ...t, shape: [-2] } }, eight), /neg\.safetensors: tensor 'a': invalid shape \[-2\]/],
    ['bad metadata', () => rawFile('meta.safetensors', { __metadata__: { n: 3 }, a: t }, eight), /meta\.safetensors: invalid __metadata__/],
  ])('%s', async (_name, make, re) => {
    await expect(openSafetensors(make())).rejects.toThrow(re);
  });
});

describe('writing', () => {
  test('round trip of every dtype keeps values, shapes, dtypes and metadata', async () => {
    const tensors: Record<string, TensorToWrite> = {
      f32: { shape: [2, 3], data: new Float32Array([1, -2.5, 3e-8, 1e30, -0, 0.1]) },
      f64: { shape: [2], data: new Float32Array([0.1, -1e-3]), dtype: 'F64' },
      f16: { shape: [4], data: new Float32Array([1, -2, 0.5, 65504]), dtype: 'F16' },
      bf16: { shape: [3], data: new Float32Array([1, -3.140625, 256]), dtype: 'BF16' },
      i64: { shape: [2], data: new Int32Array([-2147483648, 2147483647]), dtype: 'I64' },
      i32: { shape: [1, 2], data: new Int32Array([5, -6]) },
      i16: { shape: [2], data: new Int32Array([-32768, 32767]), dtype: 'I16' },
      i8: { shape: [2], data: new Int32Array([-128, 127]), dtype: 'I8' },
      u8: { shape: [2], data: new Uint8Array([0, 255]) },
      bool: { shape: [2], data: new Uint8Array([1, 0]), dtype: 'BOOL' },
      scalar: { shape: [], data: new Float32Array([4.25]) },
      empty: { shape: [0, 3], data: new Float32Array(0) },
    };
    const f = path.join(dir, 'rt.safetensors');
    await writeSafetensors(f, tensors, { format: 'pt', note: 'round trip' });
    const r = await openSafetensors(f);
    expect(r.metadata).toEqual({ format: 'pt', note: 'round trip' });
    expect(r.keys().sort()).toEqual(Object.keys(tensors).sort());
    for (const [k, t] of Object.entries(tensors)) {
      expect(r.info(k)).toEqual({ dtype: (t.dtype ?? (t.data instanceof Float32Array ? 'F32' : t.data instanceof Int32Array ? 'I32' : 'U8')) as DType, shape: t.shape });
      const got = await r.read(k);
      expect(got.shape).toEqual(t.shape);
      expect(Array.from(got.data)).toEqual(Array.from(t.data));
    }
    await r.close();
    // the header is padded to 8 bytes like the reference writer
    expect(Number(fs.readFileSync(f).readBigUInt64LE(0)) % 8).toBe(0);
  });

  test('arrays from another realm (a native addon\'s tensor data under a test sandbox) keep their dtype', async () => {
    const vm = require('vm') as typeof import('vm');
    const f32 = vm.runInNewContext('new Float32Array([2.5, -1])') as Float32Array;
    const i32 = vm.runInNewContext('new Int32Array([7, -8])') as Int32Array;
    expect(f32 instanceof Float32Array).toBe(false); // the situation: instanceof cannot tell
    const f = path.join(dir, 'realm.safetensors');
    await writeSafetensors(f, { f32: { shape: [2], data: f32 }, i32: { shape: [2], data: i32 } });
    const r = await openSafetensors(f);
    expect([r.info('f32').dtype, r.info('i32').dtype]).toEqual(['F32', 'I32']);
    expect(Array.from((await r.read('f32')).data)).toEqual([2.5, -1]);
    await r.close();
  });

  test('F16/BF16 round to nearest even', async () => {
    const f = path.join(dir, 'round.safetensors');
    // 1 + 2^-11 is halfway between halves 1 and 1+2^-10 -> even (1); 1 + 3*2^-11 -> 1 + 2^-9 (even mantissa)
    const data = new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 70000, 2 ** -25 * 3]);
    await writeSafetensors(f, { h: { shape: [4], data, dtype: 'F16' }, b: { shape: [2], data: new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8]), dtype: 'BF16' } });
    const r = await openSafetensors(f);
    expect(Array.from((await r.read('h')).data)).toEqual([1, 1 + 2 ** -9, Infinity, 2 ** -24 * 2]);
    expect(Array.from((await r.read('b')).data)).toEqual([1, 1 + 2 ** -6]);
    await r.close();
  });

  test('lazy tensors are loaded one by one while streaming, with progress', async () => {
    const f = path.join(dir, 'lazy.safetensors');
    const loaded: string[] = [];
    const progress: string[] = [];
    const lazy = (name: string, n: number) => ({ shape: [n], dtype: 'F32' as DType, load: async () => (loaded.push(name), new Float32Array(n).fill(n)) });
    await writeSafetensors(f, new Map([['b', lazy('b', 3)], ['a', lazy('a', 5)]]), undefined, {
      onProgress: (p) => progress.push(`${p.name} ${p.tensorsDone}/${p.tensorsTotal} ${p.bytesDone}/${p.bytesTotal}`),
    });
    expect(loaded).toEqual(['a', 'b']);
    expect(progress).toEqual(['a 1/2 20/32', 'b 2/2 32/32']);
    const r = await openSafetensors(f);
    expect(Array.from((await r.read('b')).data)).toEqual([3, 3, 3]);
    await r.close();
  });

  test('a write that fails midway leaves the previous file intact and no temp file', async () => {
    const sub = path.join(dir, 'atomic');
    fs.mkdirSync(sub);
    const f = path.join(sub, 'model.safetensors');
    await writeSafetensors(f, { a: { shape: [2], data: new Float32Array([1, 2]) } });
    const before = fs.readFileSync(f);
    const failing = {
      a: { shape: [2], data: new Float32Array([9, 9]) },
      b: { shape: [2], dtype: 'F32' as DType, load: async (): Promise<Float32Array> => { throw new Error('disk on fire'); } },
    };
    await expect(writeSafetensors(f, failing)).rejects.toThrow('disk on fire');
    expect(fs.readFileSync(f).equals(before)).toBe(true);
    expect(fs.readdirSync(sub)).toEqual(['model.safetensors']);
    // values that do not fit the requested dtype also abort cleanly
    await expect(writeSafetensors(f, { x: { shape: [1], data: new Int32Array([300]), dtype: 'I8' } })).rejects.toThrow(/tensor 'x': value 300 at index 0 does not fit I8/);
    await expect(atomicWriteFile(f, (async function* () { yield 'partial'; throw new Error('boom'); })())).rejects.toThrow('boom');
    expect(fs.readFileSync(f).equals(before)).toBe(true);
    expect(fs.readdirSync(sub)).toEqual(['model.safetensors']);
  });
});
