/** Builds a SentencePiece model file from a piece list (e.g. a small hand-made unigram vocabulary). */
import { defaultNormalizerSpec, defaultTrainerSpec, NormalizerSpec, PieceType, serializeModelProto } from './proto';
import { SentencePieceModel } from './spm';

export type PieceTypeName = 'NORMAL' | 'UNKNOWN' | 'CONTROL' | 'USER_DEFINED' | 'BYTE' | 'UNUSED';

export interface WriteModelOptions {
  pieces: Array<{ piece: string; score: number; type?: PieceType | PieceTypeName }>;
  /** default 'unigram' */
  modelType?: 'unigram' | 'bpe' | 1 | 2;
  /** default: identity normaliser (no charsmap), dummy prefix, extra-whitespace removal, ' ' -> '▁' */
  normalizer?: Partial<NormalizerSpec>;
  byteFallback?: boolean;
}

/**
 * Serializes a ModelProto and checks it by loading it back (so an invalid piece list fails here, not at
 * tokenisation time). unk/bos/eos ids are taken from the <unk> (UNKNOWN), <s> and </s> (CONTROL) pieces.
 */
export function writeSentencePieceModel(opts: WriteModelOptions): Uint8Array {
  const pieces = opts.pieces.map((p, i) => {
    const t = p.type ?? PieceType.NORMAL;
    const type = typeof t === 'string' ? PieceType[t] : t;
    if (type === undefined || !(type in PieceType)) throw new Error(`piece ${i} (${JSON.stringify(p.piece)}): unknown type ${String(t)}`);
    if (!Number.isFinite(p.score)) throw new Error(`piece ${i} (${JSON.stringify(p.piece)}): score ${p.score} is not finite`);
    return { piece: p.piece, score: p.score, type };
  });
  const find = (piece: string, type: PieceType) => pieces.findIndex((p) => p.piece === piece && p.type === type);
  const mt = opts.modelType ?? 'unigram';
  const trainerSpec = {
    ...defaultTrainerSpec(),
    modelType: mt === 'bpe' || mt === 2 ? 2 : 1,
    vocabSize: pieces.length,
    byteFallback: opts.byteFallback ?? false,
    unkId: pieces.findIndex((p) => p.type === PieceType.UNKNOWN),
    bosId: find('<s>', PieceType.CONTROL),
    eosId: find('</s>', PieceType.CONTROL),
    padId: find('<pad>', PieceType.CONTROL),
  };
  const normalizerSpec = { ...defaultNormalizerSpec(), name: 'identity', ...opts.normalizer };
  const bytes = serializeModelProto({ pieces, trainerSpec, normalizerSpec });
  SentencePieceModel.fromBytes(bytes, '<writeSentencePieceModel>');
  return bytes;
}
