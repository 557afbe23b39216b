/**
 * A SentencePiece processor (encode side of sentencepiece_processor.cc) over a parsed ModelProto:
 * normalise, segment (unigram or BPE), merge runs of unknown pieces, or spell them as <0xXX> byte
 * pieces when byte_fallback is on.
 */
import { Normalizer } from './normalizer';
import { ModelProto, parseModelProto, PieceType, ProtoError, serializeModelProto } from './proto';
import { BpeVocab, bpeEncode } from './spm-bpe';
import { Flag, UnigramVocab } from './unigram';

export interface EncodedPiece {
  piece: string;
  id: number;
}

const encoder = new TextEncoder();

export class SentencePieceModel {
  readonly proto: ModelProto;
  /** the serialized model exactly as loaded (save() writes these bytes back unchanged) */
  readonly bytes: Uint8Array;
  readonly normalizer: Normalizer;
  private pieceIds = new Map<string, number>(); // NORMAL, USER_DEFINED, UNUSED
  private reservedIds = new Map<string, number>(); // CONTROL, UNKNOWN, BYTE
  private types: Uint8Array;
  private scores: Float32Array;
  readonly unkId: number;
  private unigram?: UnigramVocab;
  private bpe?: BpeVocab;
  private byteIds: Int32Array | null = null;

  /** Parses and validates a serialized ModelProto; `source` names the file in error messages. */
  static fromBytes(bytes: Uint8Array, source = '<buffer>'): SentencePieceModel {
    let proto: ModelProto;
    try {
      proto = parseModelProto(bytes);
    } catch (e) {
      const why = e instanceof ProtoError ? e.message : String(e);
      throw new Error(`${source}: not a valid SentencePiece model (${why})`, { cause: e });
    }
    try {
      return new SentencePieceModel(proto, bytes);
    } catch (e) {
      throw new Error(`${source}: not a usable SentencePiece model (${(e as Error).message})`, { cause: e });
    }
  }

  static fromProto(proto: ModelProto): SentencePieceModel {
    return new SentencePieceModel(proto, serializeModelProto(proto));
  }

  private constructor(proto: ModelProto, bytes: Uint8Array) {
    this.proto = proto;
    this.bytes = bytes;
    const pieces = proto.pieces;
    if (pieces.length === 0) throw new Error('the model has no pieces');
    const mt = proto.trainerSpec.modelType;
    if (mt !== 1 && mt !== 2) throw new Error(`model_type ${mt} is not supported (1 = unigram, 2 = bpe)`);
    this.types = new Uint8Array(pieces.length);
    this.scores = new Float32Array(pieces.length);
    let unkId = -1;
    const userDefined: string[] = [];
    pieces.forEach((p, i) => {
      if (p.piece === '') throw new Error(`piece ${i} is empty`);
      this.types[i] = p.type;
      this.scores[i] = p.score;
      const normal = p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED;
      const map = normal ? this.pieceIds : this.reservedIds;
      if (this.pieceIds.has(p.piece) || this.reservedIds.has(p.piece)) throw new Error(`piece ${JSON.stringify(p.piece)} is defined twice`);
      map.set(p.piece, i);
      if (p.type === PieceType.UNKNOWN) {
        if (unkId >= 0) throw new Error('more than one UNKNOWN piece');
        unkId = i;
      }
      if (p.type === PieceType.USER_DEFINED) userDefined.push(p.piece);
    });
    if (unkId < 0) throw new Error('no UNKNOWN (<unk>) piece');
    this.unkId = unkId;
    userDefined.sort((a, b) => b.length - a.length);
    this.normalizer = new Normalizer(proto.normalizerSpec, userDefined, proto.trainerSpec.treatWhitespaceAsSuffix);
    if (proto.trainerSpec.byteFallback) {
      this.byteIds = new Int32Array(256);
      for (let b = 0; b < 256; b++) {
        const name = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
        const id = this.reservedIds.get(name);
        if (id === undefined || this.types[id] !== PieceType.BYTE) throw new Error(`byte_fallback is on but byte piece ${name} is missing`);
        this.byteIds[b] = id;
      }
    }
    const isUnused = (id: number) => this.types[id] === PieceType.UNUSED;
    if (mt === 1) {
      let minScore = Infinity;
      let maxScore = -Infinity;
      pieces.forEach((p) => {
        if (p.type === PieceType.NORMAL) {
          minScore = Math.min(minScore, p.score);
          maxScore = Math.max(maxScore, p.score);
        }
      });
      const flags = new Uint8Array(pieces.length);
      const byteLength = new Int32Array(pieces.length);
      pieces.forEach((p, i) => {
        if (p.type === PieceType.UNUSED) flags[i] |= Flag.Unused;
        if (p.type === PieceType.USER_DEFINED) {
          flags[i] |= Flag.UserDefined;
          byteLength[i] = encoder.encode(p.piece).length;
        }
      });
      this.unigram = new UnigramVocab(this.pieceIds, this.scores, flags, byteLength,
        minScore === Infinity ? 0 : minScore, maxScore === -Infinity ? 0 : maxScore, unkId);
    } else {
      this.bpe = { pieceToId: (p) => this.pieceIds.get(p), scores: this.scores, isUnused, unkId, userDefined };
    }
  }

  get size(): number {
    return this.proto.pieces.length;
  }

  /** sentencepiece PieceToId: unknown strings map to the unk id */
  pieceToId(piece: string): number {
    return this.pieceIds.get(piece) ?? this.reservedIds.get(piece) ?? this.unkId;
  }

  idToPiece(id: number): string {
    const p = this.proto.pieces[id];
    if (!p) throw new RangeError(`piece id ${id} out of range [0, ${this.size})`);
    return p.piece;
  }

  isControl(id: number): boolean { return this.types[id] === PieceType.CONTROL; }
  isUnknown(id: number): boolean { return this.types[id] === PieceType.UNKNOWN; }
  isByte(id: number): boolean { return this.types[id] === PieceType.BYTE; }

  /** Segmentation of a normalized string as [piece, id] pairs, before unknown merging. */
  private segment(normalized: string): Array<[string, number]> {
    if (!this.unigram) return bpeEncode(this.bpe!, normalized);
    const t = this.unigram.encode(normalized);
    const out: Array<[string, number]> = new Array(t.length / 3);
    for (let j = 0; j < out.length; j++) out[j] = [normalized.slice(t[3 * j], t[3 * j + 1]), t[3 * j + 2]];
    return out;
  }

  /** sp.encode(text): pieces with ids, as `out_type=str` / `out_type=int` give them. */
  encode(text: string): EncodedPiece[] {
    const out: EncodedPiece[] = [];
    let prevUnk = false;
    for (const [piece, id] of this.segment(this.normalizer.normalize(text))) {
      const unk = this.isUnknown(id);
      if (unk && this.byteIds) {
        for (const b of encoder.encode(piece)) out.push({ piece: this.idToPiece(this.byteIds[b]), id: this.byteIds[b] });
      } else if (unk && prevUnk) {
        // sentencepiece merges a run of unknown pieces into one
        out[out.length - 1].piece += piece;
      } else {
        out.push({ piece, id });
      }
      prevUnk = unk;
    }
    return out;
  }

  /** sp.encode(text, out_type=int), without building piece strings on the common path. */
  encodeIds(text: string): number[] {
    if (!this.unigram || this.byteIds) return this.encode(text).map((p) => p.id);
    const t = this.unigram.encode(this.normalizer.normalize(text));
    const out: number[] = [];
    let prevUnk = false;
    for (let j = 2; j < t.length; j += 3) {
      const id = t[j];
      const unk = id === this.unkId;
      if (!(unk && prevUnk)) out.push(id);
      prevUnk = unk;
    }
    return out;
  }
}
