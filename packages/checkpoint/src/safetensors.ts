import * as fs from 'fs';
import { CheckpointReader, DType, TensorData, TensorInfo, TensorToWrite } from './types';
import { atomicWriteFile } from './atomic';

interface Entry extends TensorInfo {
  begin: number; // absolute file offset
  end: number;
}

const BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export class CheckpointError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/** Opens a .safetensors file: reads and validates the header only; tensor bytes are read on demand. */
export async function openSafetensors(file: string): Promise<CheckpointReader> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e: any) {
    throw new CheckpointError(file, e.code === 'ENOENT' ? 'file not found' : `cannot open (${e.message})`);
  }
  try {
    const size = (await fh.stat()).size;
    if (size < 8) throw new CheckpointError(file, `truncated: ${size} bytes, a safetensors file starts with an 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > size - 8) throw new CheckpointError(file, `truncated header: header length ${headerLen} but only ${size - 8} bytes follow`);
    if (headerLen > 100 * 1024 * 1024) throw new CheckpointError(file, `header length ${headerLen} is implausibly large`);
    const hb = Buffer.alloc(headerLen);
    await fh.read(hb, 0, headerLen, 8);
    let header: Record<string, any>;
    try {
      header = JSON.parse(hb.toString('utf8'));
    } catch (e: any) {
      throw new CheckpointError(file, `invalid JSON header (${e.message})`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new CheckpointError(file, 'header is not a JSON object');
    const dataStart = 8 + headerLen;
    const dataLen = size - dataStart;
    const metadata: Record<string, string> = header.__metadata__ ?? {};
    const entries = new Map<string, Entry>();
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const { dtype, shape, data_offsets } = v as any;
      if (!(dtype in BYTES)) throw new CheckpointError(file, `tensor '${name}': unknown dtype ${JSON.stringify(dtype)}`);
      if (!Array.isArray(shape) || !shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0))
        throw new CheckpointError(file, `tensor '${name}': invalid shape ${JSON.stringify(shape)}`);
      if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0))
        throw new CheckpointError(file, `tensor '${name}': invalid data_offsets ${JSON.stringify(data_offsets)}`);
      const [b, e] = data_offsets as [number, number];
      if (b > e || e > dataLen) throw new CheckpointError(file, `tensor '${name}': data_offsets [${b}, ${e}] out of range (data section is ${dataLen} bytes)`);
      const n = shape.reduce((a: number, d: number) => a * d, 1);
      if ((e - b) !== n * BYTES[dtype as DType])
        throw new CheckpointError(file, `tensor '${name}': ${e - b} bytes for shape [${shape}] ${dtype} (expected ${n * BYTES[dtype as DType]})`);
      entries.set(name, { dtype, shape, begin: dataStart + b, end: dataStart + e });
    }
    const sorted = [...entries.entries()].sort((x, y) => x[1].begin - y[1].begin);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i][1].begin < sorted[i - 1][1].end)
        throw new CheckpointError(file, `tensors '${sorted[i - 1][0]}' and '${sorted[i][0]}' overlap`);
    }
    return new SafetensorsReader(file, fh, entries, metadata);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

class SafetensorsReader implements CheckpointReader {
  readonly format = 'safetensors' as const;
  constructor(readonly path: string, private fh: fs.promises.FileHandle, private entries: Map<string, Entry>, readonly metadata: Record<string, string>) {}
  keys(): string[] {
    return [...this.entries.keys()];
  }
  has(key: string): boolean {
    return this.entries.has(key);
  }
  info(key: string): TensorInfo {
    const e = this.entry(key);
    return { dtype: e.dtype, shape: [...e.shape] };
  }
  async read(key: string): Promise<TensorData> {
    const e = this.entry(key);
    const buf = Buffer.allocUnsafe(e.end - e.begin);
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, e.begin);
    if (bytesRead !== buf.length) throw new CheckpointError(this.path, `tensor '${key}': short read (${bytesRead} of ${buf.length} bytes)`);
    return decodeRaw(this.path, key, e.dtype, [...e.shape], buf);
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
  private entry(key: string): Entry {
    const e = this.entries.get(key);
    if (!e) throw new CheckpointError(this.path, `no tensor named '${key}'`);
    return e;
  }
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Converts little-endian raw bytes of `dtype` to tfjs-friendly arrays (see TensorData). */
export function decodeRaw(file: string, key: string, dtype: DType, shape: number[], buf: Buffer): TensorData {
  const n = shape.reduce((a, d) => a * d, 1);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(buf.subarray(0, n * 4));
      return { dtype: 'float32', shape, data: out };
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = buf.readDoubleLE(i * 8);
      return { dtype: 'float32', shape, data: out };
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(buf.readUInt16LE(i * 2));
      return { dtype: 'float32', shape, data: out };
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = buf.readUInt16LE(i * 2) << 16;
      return { dtype: 'float32', shape, data: out };
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = buf.readBigInt64LE(i * 8);
        if (v > 2147483647n || v < -2147483648n) throw new CheckpointError(file, `tensor '${key}': int64 value ${v} at index ${i} does not fit int32`);
        out[i] = Number(v);
      }
      return { dtype: 'int32', shape, data: out };
    }
    case 'I32': {
      const out = new Int32Array(n);
      new Uint8Array(out.buffer).set(buf.subarray(0, n * 4));
      return { dtype: 'int32', shape, data: out };
    }
    case 'I16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(i * 2);
      return { dtype: 'int32', shape, data: out };
    }
    case 'I8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = buf.readInt8(i);
      return { dtype: 'int32', shape, data: out };
    }
    case 'U8':
    case 'BOOL':
      return { dtype: 'uint8', shape, data: new Uint8Array(buf.subarray(0, n)) };
  }
}

function defaultDtype(t: TensorToWrite): DType {
  if (t.dtype) return t.dtype;
  if (t.data instanceof Float32Array) return 'F32';
  if (t.data instanceof Int32Array) return 'I32';
  return 'U8';
}

/**
 * Writes a safetensors file atomically (temp file + rename). Keys are written in sorted order, the header is padded
 * with spaces to a multiple of 8 bytes, as the reference `safetensors` library does.
 */
export async function writeSafetensors(
  file: string,
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const names = [...map.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Buffer[] = [];
  for (const name of names) {
    const t = map.get(name)!;
    const dtype = defaultDtype(t);
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (t.data.length !== n) throw new Error(`writeSafetensors ${file}: tensor '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    const bytes = encodeRaw(name, dtype, t.data);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    chunks.push(bytes);
  }
  let hjson = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (hjson.length % 8)) % 8;
  if (pad) hjson = Buffer.concat([hjson, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hjson.length));
  await atomicWriteFile(file, [len, hjson, ...chunks]);
}

function encodeRaw(name: string, dtype: DType, data: Float32Array | Int32Array | Uint8Array): Buffer {
  const n = data.length;
  switch (dtype) {
    case 'F32':
      return Buffer.from(Float32Array.from(data).buffer);
    case 'I32':
      return Buffer.from(Int32Array.from(data).buffer);
    case 'U8':
    case 'BOOL':
      return Buffer.from(Uint8Array.from(data).buffer);
    case 'I64': {
      const b = Buffer.alloc(n * 8);
      for (let i = 0; i < n; i++) b.writeBigInt64LE(BigInt(Math.trunc(data[i])), i * 8);
      return b;
    }
    case 'F64': {
      const b = Buffer.alloc(n * 8);
      for (let i = 0; i < n; i++) b.writeDoubleLE(data[i], i * 8);
      return b;
    }
    default:
      throw new Error(`writeSafetensors: tensor '${name}': writing dtype ${dtype} is not supported`);
  }
}
