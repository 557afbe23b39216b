/**
 * The byte formats under TensorBoard event files, written by hand so the trainer needs no protobuf library:
 * CRC32C, TFRecord framing, and a minimal protobuf encoder/decoder (varint, 64/32-bit and length-delimited fields).
 */

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    // 0x82F63B78: the Castagnoli polynomial, bit-reversed (TFRecord checksums are CRC32C, not zlib's CRC32).
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC32C_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked checksum (rotate right by 15, add a constant), so a CRC of data holding CRCs is not degenerate. */
export function maskedCrc32c(buf: Uint8Array): number {
  const c = crc32c(buf);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One record: uint64 length, masked CRC32C of those 8 bytes, the data, masked CRC32C of the data (all little-endian). */
export function tfRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + 4 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

/** Every record of a TFRecord file's bytes; a wrong checksum or a cut record is an error naming `name` and the offset. */
export function readTfRecords(buf: Uint8Array, name = 'TFRecord data'): Buffer[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Buffer[] = [];
  let off = 0;
  while (off < b.length) {
    if (off + 12 > b.length) throw new Error(`${name}: record at byte ${off} is cut short (header)`);
    const len = Number(b.readBigUInt64LE(off));
    if (b.readUInt32LE(off + 8) !== maskedCrc32c(b.subarray(off, off + 8))) throw new Error(`${name}: length checksum mismatch in the record at byte ${off}`);
    const end = off + 12 + len + 4;
    if (end > b.length) throw new Error(`${name}: record at byte ${off} is cut short (${len} data bytes announced)`);
    const data = b.subarray(off + 12, off + 12 + len);
    if (b.readUInt32LE(off + 12 + len) !== maskedCrc32c(data)) throw new Error(`${name}: data checksum mismatch in the record at byte ${off}`);
    out.push(data);
    off = end;
  }
  return out;
}

/** Protobuf message builder; fields are appended in call order (any order is valid protobuf). */
export class ProtoWriter {
  private parts: Buffer[] = [];

  private varint(v: number): void {
    if (!Number.isInteger(v) || v < 0) throw new Error(`protobuf varint must be a non-negative integer, got ${v}`);
    const bytes: number[] = [];
    // Division, not bit shifts: steps can exceed 2^31 and JS shifts are 32-bit.
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    this.parts.push(Buffer.from(bytes));
  }

  private key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  uint(field: number, v: number): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }

  double(field: number, v: number): this {
    this.key(field, 1);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.parts.push(b);
    return this;
  }

  float(field: number, v: number): this {
    this.key(field, 5);
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.parts.push(b);
    return this;
  }

  bytes(field: number, v: Uint8Array | string): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
    this.key(field, 2);
    this.varint(b.length);
    this.parts.push(b);
    return this;
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A decoded field: varints as numbers, fixed64 / fixed32 as their raw 8 / 4 bytes, length-delimited as bytes. */
export interface ProtoField {
  field: number;
  wire: 0 | 1 | 2 | 5;
  value: number | Buffer;
}

/** Splits a protobuf message into its fields (no schema: the caller interprets them). */
export function decodeProto(buf: Buffer): ProtoField[] {
  const out: ProtoField[] = [];
  let off = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (off >= buf.length) throw new Error(`protobuf: varint runs past the end (${buf.length} bytes)`);
      const byte = buf[off++];
      v += (byte & 0x7f) * mul;
      mul *= 0x80;
      if (!(byte & 0x80)) return v;
    }
  };
  const take = (n: number): Buffer => {
    if (off + n > buf.length) throw new Error(`protobuf: field of ${n} bytes at ${off} runs past the end (${buf.length} bytes)`);
    const b = buf.subarray(off, off + n);
    off += n;
    return b;
  };
  while (off < buf.length) {
    const k = varint();
    const field = Math.floor(k / 8);
    const wire = k % 8;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) out.push({ field, wire, value: take(8) });
    else if (wire === 2) out.push({ field, wire, value: take(varint()) });
    else if (wire === 5) out.push({ field, wire, value: take(4) });
    else throw new Error(`protobuf: unsupported wire type ${wire} (field ${field})`);
  }
  return out;
}
