/**
 * A minimal protobuf wire-format reader/writer for SentencePiece's ModelProto
 * (sentencepiece_model.proto). Only the fields the tokenizer needs are decoded; everything
 * else is skipped, but the wire format is fully validated so that a corrupt or non-model
 * file fails at load instead of silently producing an empty vocabulary.
 */

export enum PieceType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

export interface SentencePiece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface NormalizerSpec {
  name: string;
  precompiledCharsmap?: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface TrainerSpec {
  /** 1 = unigram, 2 = bpe, 3 = word, 4 = char. */
  modelType: number;
  vocabSize?: number;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  treatWhitespaceAsSuffix: boolean;
  unkSurface: string;
}

export interface ModelProto {
  pieces: SentencePiece[];
  trainerSpec: TrainerSpec;
  normalizerSpec: NormalizerSpec;
}

export class ProtoError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Cursor over a protobuf message; every read is bounds-checked. */
class Reader {
  pos: number;
  constructor(private buf: Uint8Array, start: number, readonly end: number) {
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  /** Varint as a JS number (low 53 bits are enough for every field we read). */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError(`truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new ProtoError(`varint longer than 10 bytes at byte ${this.pos}`);
  }
  /** int32 fields are sign-extended to 64 bits on the wire; keep the low 32 bits, signed. */
  int32(): number {
    let low = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError(`truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++];
      if (i < 5) low |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return low | 0;
    }
    throw new ProtoError(`varint longer than 10 bytes at byte ${this.pos}`);
  }
  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.end) throw new ProtoError(`length-delimited field of ${len} bytes runs past the end at byte ${this.pos}`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  sub(): Reader {
    const len = this.varint();
    if (this.pos + len > this.end) throw new ProtoError(`sub-message of ${len} bytes runs past the end at byte ${this.pos}`);
    const r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }
  string(): string {
    try {
      return utf8.decode(this.bytes());
    } catch {
      throw new ProtoError(`invalid UTF-8 in a string field before byte ${this.pos}`);
    }
  }
  float(): number {
    if (this.pos + 4 > this.end) throw new ProtoError(`truncated float at byte ${this.pos}`);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  /** Reads a tag; returns [fieldNumber, wireType]. */
  tag(): [number, number] {
    const t = this.varint();
    const field = Math.floor(t / 8);
    const wire = t % 8;
    if (field === 0) throw new ProtoError(`field number 0 at byte ${this.pos}`);
    return [field, wire];
  }
  skip(wire: number): void {
    switch (wire) {
      case 0: this.varint(); return;
      case 1: this.need(8); this.pos += 8; return;
      case 2: this.bytes(); return;
      case 5: this.need(4); this.pos += 4; return;
      default: throw new ProtoError(`unsupported wire type ${wire} at byte ${this.pos}`);
    }
  }
  private need(n: number): void {
    if (this.pos + n > this.end) throw new ProtoError(`truncated field at byte ${this.pos}`);
  }
}

function expectWire(field: string, wire: number, want: number, pos: number): void {
  if (wire !== want) throw new ProtoError(`${field}: wire type ${wire}, expected ${want} (byte ${pos})`);
}

function readPiece(r: Reader): SentencePiece {
  const p: SentencePiece = { piece: '', score: 0, type: PieceType.NORMAL };
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1) { expectWire('piece', w, 2, r.pos); p.piece = r.string(); }
    else if (f === 2) { expectWire('score', w, 5, r.pos); p.score = r.float(); }
    else if (f === 3) {
      expectWire('type', w, 0, r.pos);
      const t = r.varint();
      if (t < 1 || t > 6) throw new ProtoError(`piece type ${t} is not a SentencePiece type`);
      p.type = t;
    } else r.skip(w);
  }
  return p;
}

function readTrainer(r: Reader): TrainerSpec {
  const t = defaultTrainerSpec();
  while (!r.done) {
    const [f, w] = r.tag();
    switch (f) {
      case 3: expectWire('model_type', w, 0, r.pos); t.modelType = r.varint(); break;
      case 4: expectWire('vocab_size', w, 0, r.pos); t.vocabSize = r.int32(); break;
      case 24: expectWire('treat_whitespace_as_suffix', w, 0, r.pos); t.treatWhitespaceAsSuffix = r.varint() !== 0; break;
      case 35: expectWire('byte_fallback', w, 0, r.pos); t.byteFallback = r.varint() !== 0; break;
      case 40: expectWire('unk_id', w, 0, r.pos); t.unkId = r.int32(); break;
      case 41: expectWire('bos_id', w, 0, r.pos); t.bosId = r.int32(); break;
      case 42: expectWire('eos_id', w, 0, r.pos); t.eosId = r.int32(); break;
      case 43: expectWire('pad_id', w, 0, r.pos); t.padId = r.int32(); break;
      case 44: expectWire('unk_surface', w, 2, r.pos); t.unkSurface = r.string(); break;
      default: r.skip(w);
    }
  }
  return t;
}

function readNormalizer(r: Reader): NormalizerSpec {
  const n = defaultNormalizerSpec();
  while (!r.done) {
    const [f, w] = r.tag();
    switch (f) {
      case 1: expectWire('name', w, 2, r.pos); n.name = r.string(); break;
      case 2: expectWire('precompiled_charsmap', w, 2, r.pos); n.precompiledCharsmap = r.bytes(); break;
      case 3: expectWire('add_dummy_prefix', w, 0, r.pos); n.addDummyPrefix = r.varint() !== 0; break;
      case 4: expectWire('remove_extra_whitespaces', w, 0, r.pos); n.removeExtraWhitespaces = r.varint() !== 0; break;
      case 5: expectWire('escape_whitespaces', w, 0, r.pos); n.escapeWhitespaces = r.varint() !== 0; break;
      default: r.skip(w);
    }
  }
  return n;
}

export function defaultTrainerSpec(): TrainerSpec {
  return { modelType: 1, byteFallback: false, unkId: 0, bosId: 1, eosId: 2, padId: -1, treatWhitespaceAsSuffix: false, unkSurface: ' \u2047 ' };
}

export function defaultNormalizerSpec(): NormalizerSpec {
  return { name: '', addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true };
}

/** Decodes a serialized ModelProto. Throws ProtoError on malformed input. */
export function parseModelProto(buf: Uint8Array): ModelProto {
  if (buf.length === 0) throw new ProtoError('empty file');
  const r = new Reader(buf, 0, buf.length);
  const pieces: SentencePiece[] = [];
  let trainerSpec = defaultTrainerSpec();
  let normalizerSpec = defaultNormalizerSpec();
  while (!r.done) {
    const [f, w] = r.tag();
    // ModelProto has fields 1..5 and an extension range from 200; anything else means "not a model".
    if (f === 1) { expectWire('pieces', w, 2, r.pos); pieces.push(readPiece(r.sub())); }
    else if (f === 2) { expectWire('trainer_spec', w, 2, r.pos); trainerSpec = readTrainer(r.sub()); }
    else if (f === 3) { expectWire('normalizer_spec', w, 2, r.pos); normalizerSpec = readNormalizer(r.sub()); }
    else if (f === 4 || f === 5) { expectWire('field ' + f, w, 2, r.pos); r.skip(w); }
    else if (f >= 200) r.skip(w);
    else throw new ProtoError(`unexpected top-level field ${f} (wire type ${w}) at byte ${r.pos}`);
  }
  return { pieces, trainerSpec, normalizerSpec };
}

// ---------------------------------------------------------------------------------------------
// Writer

class Writer {
  private chunks: number[] = [];
  varint(v: number): void {
    if (v < 0) {
      // negative int32: ten-byte two's complement encoding
      let big = BigInt.asUintN(64, BigInt(v));
      for (let i = 0; i < 10; i++) {
        const b = Number(big & 0x7fn);
        big >>= 7n;
        this.chunks.push(big === 0n ? b : b | 0x80);
        if (big === 0n) return;
      }
      return;
    }
    while (v >= 0x80) {
      this.chunks.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    this.chunks.push(v);
  }
  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }
  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    for (const b of data) this.chunks.push(b);
  }
  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }
  float(field: number, v: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    for (const x of b) this.chunks.push(x);
  }
  int(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/** Serializes a ModelProto (pieces, the trainer fields above, the normalizer spec). */
export function serializeModelProto(m: ModelProto): Uint8Array {
  const w = new Writer();
  for (const p of m.pieces) {
    const pw = new Writer();
    pw.string(1, p.piece);
    pw.float(2, p.score);
    if (p.type !== PieceType.NORMAL) pw.int(3, p.type);
    w.bytes(1, pw.finish());
  }
  const t = m.trainerSpec;
  const tw = new Writer();
  tw.int(3, t.modelType);
  tw.int(4, t.vocabSize ?? m.pieces.length);
  if (t.treatWhitespaceAsSuffix) tw.int(24, 1);
  tw.int(35, t.byteFallback ? 1 : 0);
  tw.int(40, t.unkId);
  tw.int(41, t.bosId);
  tw.int(42, t.eosId);
  tw.int(43, t.padId);
  w.bytes(2, tw.finish());
  const n = m.normalizerSpec;
  const nw = new Writer();
  nw.string(1, n.name);
  if (n.precompiledCharsmap && n.precompiledCharsmap.length) nw.bytes(2, n.precompiledCharsmap);
  nw.int(3, n.addDummyPrefix ? 1 : 0);
  nw.int(4, n.removeExtraWhitespaces ? 1 : 0);
  nw.int(5, n.escapeWhitespaces ? 1 : 0);
  w.bytes(3, nw.finish());
  return w.finish();
}
