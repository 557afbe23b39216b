import * as fs from 'fs';
import { CheckpointReader, DType, LazyTensor, TensorData, TensorInfo, TensorToWrite, WriteOptions } from './types';
import { atomicWrite, readExactly, writeAll } from './atomic';
import { CheckpointError } from './errors';
import { DTYPE_BYTES, checkReadable, decodeRaw, encodeRaw, isDType, numel } from './dtypes';

export { CheckpointError } from './errors';
export { decodeRaw } from './dtypes';

interface Entry extends TensorInfo {
  begin: number; // absolute file offset
  end: number;
}

/** Opens a file for reading, turning fs errors into CheckpointErrors that name the file. */
export async function openForRead(file: string): Promise<fs.promises.FileHandle> {
  try {
    const fh = await fs.promises.open(file, 'r');
    if ((await fh.stat()).isDirectory()) {
      await fh.close();
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
    return fh;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, expected a file' : `cannot open (${(e as Error).message})`;
    throw new CheckpointError(file, why, { cause: e });
  }
}

/** Opens a .safetensors file: reads and validates the header only; tensor bytes are read on demand. */
export async function openSafetensors(file: string): Promise<CheckpointReader> {
  const fh = await openForRead(file);
  try {
    const size = (await fh.stat()).size;
    const hlen = headerLength(file, size, size >= 8 ? (await readExactly(fh, 8, 0)).buf : undefined);
    const { buf: hb } = await readExactly(fh, hlen, 8);
    const header = parseHeader(file, hb);
    const entries = validateEntries(file, header, size - 8 - hlen, 8 + hlen);
    return new SafetensorsReader(file, fh, entries, parseMetadata(file, header.__metadata__));
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * What is wrong with a .safetensors file (unreadable, a cut or invalid header, tensor bytes beyond the end of the file
 * as a truncated copy or write leaves), or undefined when it is whole. Reads the header only, synchronously.
 */
export function safetensorsProblem(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    return `${file}: cannot open (${(e as Error).message})`;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const readAt = (length: number, position: number) => {
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, position);
      return buf;
    };
    const hlen = headerLength(file, size, size >= 8 ? readAt(8, 0) : undefined);
    const header = parseHeader(file, readAt(hlen, 8));
    validateEntries(file, header, size - 8 - hlen, 8 + hlen);
    parseMetadata(file, header.__metadata__);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    fs.closeSync(fd);
  }
}

/** The header length from the file's first 8 bytes (`lenBuf`, undefined when the file is shorter), checked against its size. */
function headerLength(file: string, size: number, lenBuf: Buffer | undefined): number {
  if (!lenBuf) throw new CheckpointError(file, `truncated header: ${size} bytes, a safetensors file starts with an 8-byte header length`);
  const headerLen = lenBuf.readBigUInt64LE(0);
  if (headerLen > BigInt(size - 8))
    throw new CheckpointError(file, `truncated header: header length ${headerLen} but only ${size - 8} bytes follow (not a safetensors file, or cut short)`);
  if (headerLen > 100n * 1024n * 1024n) throw new CheckpointError(file, `header length ${headerLen} is implausibly large`);
  return Number(headerLen);
}

function parseHeader(file: string, hb: Buffer): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(hb.toString('utf8'));
  } catch (e) {
    throw new CheckpointError(file, `invalid JSON header (${(e as Error).message})`, { cause: e });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new CheckpointError(file, 'invalid header: not a JSON object');
  return header as Record<string, unknown>;
}

function parseMetadata(file: string, m: unknown): Record<string, string> {
  if (m === undefined || m === null) return {};
  if (typeof m !== 'object' || Array.isArray(m) || !Object.values(m).every((v) => typeof v === 'string'))
    throw new CheckpointError(file, `invalid __metadata__: must map strings to strings, got ${JSON.stringify(m).slice(0, 200)}`);
  return { ...(m as Record<string, string>) };
}

function validateEntries(file: string, header: Record<string, unknown>, dataLen: number, dataStart: number): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets } = (v ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDType(dtype)) throw new CheckpointError(file, `tensor '${name}': unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every((d: unknown) => Number.isSafeInteger(d) && (d as number) >= 0))
      throw new CheckpointError(file, `tensor '${name}': invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every((d: unknown) => Number.isSafeInteger(d) && (d as number) >= 0))
      throw new CheckpointError(file, `tensor '${name}': invalid data_offsets ${JSON.stringify(data_offsets)}`);
    const [b, e] = data_offsets as [number, number];
    if (b > e) throw new CheckpointError(file, `tensor '${name}': data_offsets [${b}, ${e}] out of range (begin after end)`);
    if (e > dataLen)
      throw new CheckpointError(file, `tensor '${name}': data_offsets [${b}, ${e}] out of range (data section is ${dataLen} bytes: the file is truncated, or its header is wrong)`);
    const expected = numel(shape) * DTYPE_BYTES[dtype];
    if (e - b !== expected)
      throw new CheckpointError(file, `tensor '${name}': byte count ${e - b} does not match shape [${shape}] ${dtype} (expected ${expected} bytes)`);
    entries.set(name, { dtype, shape, begin: dataStart + b, end: dataStart + e });
  }
  const sorted = [...entries.entries()].filter(([, x]) => x.end > x.begin).sort((x, y) => x[1].begin - y[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    const [pn, p] = sorted[i - 1];
    const [cn, c] = sorted[i];
    if (c.begin < p.end)
      throw new CheckpointError(file, `overlapping data_offsets: tensor '${pn}' [${p.begin - dataStart}, ${p.end - dataStart}] and '${cn}' [${c.begin - dataStart}, ${c.end - dataStart}]`);
  }
  return entries;
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
    checkReadable(this.path, key, e.end - e.begin);
    const { buf, got } = await readExactly(this.fh, e.end - e.begin, e.begin);
    if (got !== buf.length) throw new CheckpointError(this.path, `tensor '${key}': short read (${got} of ${buf.length} bytes); file truncated?`);
    return decodeRaw(this.path, key, e.dtype, [...e.shape], buf, true);
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

function isLazy(t: TensorToWrite | LazyTensor): t is LazyTensor {
  return typeof (t as LazyTensor).load === 'function';
}

const FROM_TFJS: Record<string, DType> = { float32: 'F32', int32: 'I32', uint8: 'U8' };

/** By the array's own tag, not instanceof: arrays made by a native addon (tfjs-node's tensor data) belong to another
 * realm than a test sandbox's, where `instanceof Float32Array` is false. */
function defaultDtype(t: TensorToWrite): DType {
  if (t.dtype) return FROM_TFJS[t.dtype] ?? t.dtype;
  const tag = Object.prototype.toString.call(t.data);
  if (tag === '[object Float32Array]') return 'F32';
  if (tag === '[object Int32Array]') return 'I32';
  return 'U8';
}

/**
 * Writes a safetensors file atomically (temp file + fsync + rename), streaming: the header first, then each
 * tensor's bytes as it is encoded (LazyTensor values are loaded only when their turn comes). Keys are written in
 * sorted order and the header is padded with spaces to a multiple of 8 bytes, as the reference library does.
 */
export async function writeSafetensors(
  file: string,
  tensors: Map<string, TensorToWrite | LazyTensor> | Record<string, TensorToWrite | LazyTensor>,
  metadata?: Record<string, string>,
  opts: WriteOptions = {},
): Promise<void> {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const names = [...map.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw new Error(`writeSafetensors ${file}: metadata '${k}' must be a string (safetensors metadata maps strings to strings)`);
    header.__metadata__ = metadata;
  }
  const plan: Array<{ name: string; dtype: DType; shape: number[]; bytes: number }> = [];
  let offset = 0;
  for (const name of names) {
    const t = map.get(name)!;
    const dtype = isLazy(t) ? t.dtype : defaultDtype(t);
    if (!isDType(dtype)) throw new Error(`writeSafetensors ${file}: tensor '${name}': unknown dtype ${dtype}`);
    const bytes = numel(t.shape) * DTYPE_BYTES[dtype];
    plan.push({ name, dtype, shape: [...t.shape], bytes });
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let hjson = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (hjson.length % 8)) % 8;
  if (pad) hjson = Buffer.concat([hjson, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hjson.length));
  await atomicWrite(file, async (fh) => {
    await writeAll(fh, len);
    await writeAll(fh, hjson);
    let bytesDone = 0;
    for (let i = 0; i < plan.length; i++) {
      const { name, dtype, shape, bytes } = plan[i];
      const t = map.get(name)!;
      const data = isLazy(t) ? await t.load() : t.data;
      if (data.length !== numel(shape)) throw new Error(`writeSafetensors ${file}: tensor '${name}' has ${data.length} values for shape [${shape}]`);
      let raw: Buffer;
      try {
        raw = encodeRaw(name, dtype, data);
      } catch (e) {
        throw new Error(`writeSafetensors ${file}: ${(e as Error).message}`, { cause: e });
      }
      await writeAll(fh, raw);
      bytesDone += bytes;
      opts.onProgress?.({ name, tensorsDone: i + 1, tensorsTotal: plan.length, bytesDone, bytesTotal: offset });
    }
  }, { expectedBytes: 8 + hjson.length + offset });
}
