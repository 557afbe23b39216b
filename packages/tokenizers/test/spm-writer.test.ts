import { parseModelProto, PieceType, writeSentencePieceModel, XLMRobertaTokenizer } from '@altclip/tokenizers';

// Expected segmentations below are worked out by hand from the piece scores (best total score wins).
const unigramPieces = [
  { piece: '<unk>', score: 0, type: 'UNKNOWN' as const },
  { piece: '<s>', score: 0, type: 'CONTROL' as const },
  { piece: '</s>', score: 0, type: 'CONTROL' as const },
  { piece: '\u2581', score: -2 }, // spm 3
  { piece: '一只', score: -3 }, // 4
  { piece: '狗', score: -4 }, // 5
  { piece: '在', score: -4 }, // 6
  { piece: '一', score: -5 }, // 7
  { piece: '只', score: -5 }, // 8
  { piece: '\u2581一只狗', score: -6 }, // 9
  { piece: '草地', score: -3 }, // 10
  { piece: '草', score: -6 }, // 11
  { piece: '地', score: -6 }, // 12
  { piece: '\u2581a', score: -2 }, // 13
  { piece: 'a', score: -3 }, // 14
  { piece: 'b', score: -3 }, // 15
  { piece: 'ab', score: -7 }, // 16
  { piece: '<x>', score: 0, type: 'USER_DEFINED' as const }, // 17
];

describe('writeSentencePieceModel -> XLMRobertaTokenizer round trip (unigram)', () => {
  const bytes = writeSentencePieceModel({ pieces: unigramPieces, modelType: 'unigram' });
  const tok = XLMRobertaTokenizer.fromBytes(bytes);

  test('proto fields survive', () => {
    const m = parseModelProto(bytes);
    expect(m.pieces.length).toBe(unigramPieces.length);
    expect(m.pieces[17]).toEqual({ piece: '<x>', score: 0, type: PieceType.USER_DEFINED });
    expect(m.trainerSpec).toMatchObject({ modelType: 1, unkId: 0, bosId: 1, eosId: 2, padId: -1, byteFallback: false });
    expect(m.normalizerSpec).toMatchObject({ name: 'identity', addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true });
    expect(tok.vocabSize).toBe(unigramPieces.length + 2);
  });

  test.each([
    // ▁一只狗(-6) + 在(-4) + 草地(-3) = -13 beats ▁ + 一只 + 狗 + ... = -16
    ['一只狗在草地', ['\u2581一只狗', '在', '草地'], [0, 10, 7, 11, 2]],
    // ▁a + b = -5 beats ▁ + ab = -9
    ['ab', ['\u2581a', 'b'], [0, 14, 16, 2]],
    // extra spaces collapse; "▁b" is not a piece
    ['  a   b ', ['\u2581a', '\u2581', 'b'], [0, 14, 4, 16, 2]],
    // unknown characters: one <unk> per run, spm unk -> fairseq 3
    ['猫猫', ['\u2581', '猫猫'], [0, 4, 3, 2]],
    ['猫a猫', ['\u2581', '猫', 'a', '猫'], [0, 4, 3, 15, 3, 2]],
    // a user-defined symbol is kept whole
    ['a<x>b', ['\u2581a', '<x>', 'b'], [0, 14, 18, 16, 2]],
  ])('%s', (text, pieces, ids) => {
    expect(tok.tokenize(text)).toEqual(pieces);
    expect(tok.encode(text, { padding: false }).inputIds[0]).toEqual(ids);
  });

  test('decode', () => {
    expect(tok.decode([0, 10, 7, 11, 2])).toBe('<s> 一只狗在草地</s>');
    expect(tok.decode([0, 14, 4, 16, 2], { skipSpecialTokens: true })).toBe('a b');
  });
});

test('BPE model type merges by score', () => {
  const bytes = writeSentencePieceModel({
    modelType: 'bpe',
    pieces: [
      { piece: '<unk>', score: 0, type: 'UNKNOWN' },
      { piece: '<s>', score: 0, type: 'CONTROL' },
      { piece: '</s>', score: 0, type: 'CONTROL' },
      { piece: '\u2581a', score: -3 },
      { piece: 'ab', score: -1 },
      { piece: 'bc', score: -2 },
      { piece: '\u2581', score: -4 },
      { piece: 'a', score: -5 },
      { piece: 'b', score: -5 },
      { piece: 'c', score: -5 },
    ],
  });
  const tok = XLMRobertaTokenizer.fromBytes(bytes);
  // ▁ a b c: ab (-1) merges first; then neither ▁+ab nor ab+c is a piece
  expect(tok.tokenize('abc')).toEqual(['\u2581', 'ab', 'c']);
  // ▁ a c: only ▁a is available
  expect(tok.tokenize('ac')).toEqual(['\u2581a', 'c']);
  expect(tok.tokenize('ad')).toEqual(['\u2581a', 'd']);
  expect(tok.encode('ad', { padding: false }).inputIds[0]).toEqual([0, 4, 3, 2]);
});

test('invalid piece lists are rejected by the writer', () => {
  expect(() => writeSentencePieceModel({ pieces: [{ piece: 'a', score: 0 }] })).toThrow(/UNKNOWN/);
  expect(() => writeSentencePieceModel({ pieces: [{ piece: '<unk>', score: 0, type: 'UNKNOWN' }, { piece: 'a', score: 0 }, { piece: 'a', score: 1 }] })).toThrow(/twice/);
  expect(() => writeSentencePieceModel({ pieces: [{ piece: '<unk>', score: NaN, type: 'UNKNOWN' }] })).toThrow(/finite/);
});
