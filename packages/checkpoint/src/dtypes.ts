import { constants as bufferConstants } from 'buffer';
import { CheckpointError } from './errors';
import { DType, TensorData } from './types';

export const DTYPE_BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export function isDType(d: unknown): d is DType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, d);
}

/** A tensor must fit one Node buffer (4 GiB on 64-bit Node 20); say so instead of a bare RangeError. */
export function checkReadable(file: string, key: string, bytes: number): void {
  const max = bufferConstants.MAX_LENGTH;
  if (bytes > max) throw new CheckpointError(file, `tensor '${key}': ${bytes} bytes exceeds the largest buffer Node can allocate (${max})`);
}

export function numel(shape: number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

let f16Table: Float32Array | undefined;
/** All 65536 half values, built once: a table lookup is much faster than bit fiddling per element. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  f16Table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    f16Table[h] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return f16Table;
}

/** float32 bit pattern -> float16 bit pattern, round to nearest even (as torch's .half()). */
export function f32BitsToF16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let q = m >>> shift;
    const r = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (r > half || (r === half && q & 1)) q++;
    return sign | q;
  }
  let q = (e << 10) | (mant >>> 13);
  const r = mant & 0x1fff;
  if (r > 0x1000 || (r === 0x1000 && q & 1)) q++; // a carry into the exponent is the correct result
  return sign | q;
}

/** float32 bit pattern -> bfloat16 bit pattern, round to nearest even. */
export function f32BitsToBF16(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Converts little-endian raw bytes of `dtype` to what tfjs can hold (see TensorData): floats -> float32,
 * integers -> int32 (int64 range-checked), U8/BOOL -> uint8. With `owned`, the caller hands `buf` over and
 * F32/I32/U8 results may be views of it (no copy: a 1 GB embedding is not held twice).
 */
export function decodeRaw(file: string, key: string, dtype: DType, shape: number[], buf: Uint8Array, owned = false): TensorData {
  const n = numel(shape);
  const need = n * DTYPE_BYTES[dtype];
  if (buf.length < need) throw new CheckpointError(file, `tensor '${key}': ${buf.length} bytes for shape [${shape}] ${dtype} (expected ${need})`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, need);
  const view = owned && buf.byteOffset % 4 === 0;
  switch (dtype) {
    case 'F32': {
      if (view) return { dtype: 'float32', shape, data: new Float32Array(buf.buffer, buf.byteOffset, n) };
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(b);
      return { dtype: 'float32', shape, data: out };
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readDoubleLE(i * 8);
      return { dtype: 'float32', shape, data: out };
    }
    case 'F16': {
      const t = halfTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = t[b[2 * i] | (b[2 * i + 1] << 8)];
      return { dtype: 'float32', shape, data: out };
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = ((b[2 * i] | (b[2 * i + 1] << 8)) << 16) >>> 0;
      return { dtype: 'float32', shape, data: out };
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = b.readUInt32LE(i * 8);
        const hi = b.readInt32LE(i * 8 + 4);
        // fits int32 iff hi is the sign extension of lo
        if (hi !== (lo & 0x80000000 ? -1 : 0))
          throw new CheckpointError(file, `tensor '${key}': int64 value ${b.readBigInt64LE(i * 8)} at index ${i} does not fit int32`);
        out[i] = lo | 0;
      }
      return { dtype: 'int32', shape, data: out };
    }
    case 'I32': {
      if (view) return { dtype: 'int32', shape, data: new Int32Array(buf.buffer, buf.byteOffset, n) };
      const out = new Int32Array(n);
      new Uint8Array(out.buffer).set(b);
      return { dtype: 'int32', shape, data: out };
    }
    case 'I16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readInt16LE(i * 2);
      return { dtype: 'int32', shape, data: out };
    }
    case 'I8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readInt8(i);
      return { dtype: 'int32', shape, data: out };
    }
    case 'U8':
    case 'BOOL':
      return { dtype: 'uint8', shape, data: owned ? new Uint8Array(buf.buffer, buf.byteOffset, n) : new Uint8Array(b) };
  }
}

/** Encodes values as little-endian `dtype` bytes. Integer dtypes require integral values in range. */
export function encodeRaw(name: string, dtype: DType, data: Float32Array | Int32Array | Uint8Array): Buffer {
  const n = data.length;
  const out = Buffer.allocUnsafe(n * DTYPE_BYTES[dtype]);
  const checkInt = (lo: number, hi: number) => {
    for (let i = 0; i < n; i++) {
      const v = data[i];
      if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`tensor '${name}': value ${v} at index ${i} does not fit ${dtype}`);
    }
  };
  switch (dtype) {
    case 'F32':
      if (data instanceof Float32Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      new Float32Array(out.buffer, out.byteOffset, n).set(data);
      return out;
    case 'F64':
      for (let i = 0; i < n; i++) out.writeDoubleLE(data[i], i * 8);
      return out;
    case 'F16':
    case 'BF16': {
      const bits = new Uint32Array(Float32Array.from(data).buffer);
      const conv = dtype === 'F16' ? f32BitsToF16 : f32BitsToBF16;
      for (let i = 0; i < n; i++) out.writeUInt16LE(conv(bits[i]), i * 2);
      return out;
    }
    case 'I64':
      checkInt(-(2 ** 53), 2 ** 53);
      for (let i = 0; i < n; i++) out.writeBigInt64LE(BigInt(data[i]), i * 8);
      return out;
    case 'I32':
      if (data instanceof Int32Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      checkInt(-(2 ** 31), 2 ** 31 - 1);
      new Int32Array(out.buffer, out.byteOffset, n).set(data);
      return out;
    case 'I16':
      checkInt(-32768, 32767);
      for (let i = 0; i < n; i++) out.writeInt16LE(data[i], i * 2);
      return out;
    case 'I8':
      checkInt(-128, 127);
      for (let i = 0; i < n; i++) out.writeInt8(data[i], i);
      return out;
    case 'U8':
    case 'BOOL':
      checkInt(0, dtype === 'BOOL' ? 1 : 255);
      out.set(data);
      return out;
  }
}
