/**
 * XLM-R's tokenizer.json (what transformers' XLMRobertaConverter writes for XLMRobertaTokenizerFast) from a
 * SentencePiece model, and the SentencePiece model back from such a file.
 *
 * The fairseq id layout: <s>=0 <pad>=1 </s>=2 <unk>=3, SentencePiece piece k (k >= 3) at k + 1, <mask> last.
 * That is only expressible when the SentencePiece model starts with <unk>, <s>, </s> (as XLM-R's and any model
 * trained with sentencepiece's default ids do).
 */
import { NormalizerSpec, PieceType, SentencePiece, TrainerSpec, defaultTrainerSpec } from './proto';
import { SentencePieceModel } from './spm';
import { addedToken, components, HfAddedToken, JsonNode, TokenizerJson } from './hf-json';

const FAIRSEQ_HEAD = ['<s>', '<pad>', '</s>', '<unk>'];
const SPM_HEAD: Array<[string, PieceType]> = [['<unk>', PieceType.UNKNOWN], ['<s>', PieceType.CONTROL], ['</s>', PieceType.CONTROL]];
const EXTRA_SPACES = ' {2,}';

/** Why this SentencePiece model cannot be written as an XLM-R tokenizer.json, or undefined when it can. */
export function xlmrJsonUnsupported(sp: SentencePieceModel): string | undefined {
  const { pieces, trainerSpec, normalizerSpec } = sp.proto;
  if (trainerSpec.modelType !== 1) return `model_type ${trainerSpec.modelType} is not unigram`;
  const head = SPM_HEAD.every(([piece, type], i) => pieces[i]?.piece === piece && pieces[i].type === type);
  if (!head) return `its first pieces are not <unk>, <s>, </s> (got ${pieces.slice(0, 3).map((p) => JSON.stringify(p.piece)).join(', ')})`;
  if (!normalizerSpec.escapeWhitespaces) return 'escape_whitespaces is off';
  if (trainerSpec.treatWhitespaceAsSuffix) return 'treat_whitespace_as_suffix is on';
  return undefined;
}

/** The added tokens: the four fairseq specials, then spm CONTROL (special) / USER_DEFINED pieces, <mask> last. */
export function xlmrAddedTokens(sp: SentencePieceModel, maskLstrip: boolean): HfAddedToken[] {
  const out = FAIRSEQ_HEAD.map((t, id) => addedToken(id, t));
  sp.proto.pieces.forEach((p, k) => {
    if (k < 3) return;
    if (p.type === PieceType.CONTROL || p.type === PieceType.USER_DEFINED) out.push(addedToken(k + 1, p.piece, { special: p.type === PieceType.CONTROL }));
  });
  out.push(addedToken(sp.size + 1, '<mask>', { lstrip: maskLstrip }));
  return out;
}

function metaspace(addDummyPrefix: boolean): JsonNode {
  return { type: 'Metaspace', replacement: '\u2581', prepend_scheme: addDummyPrefix ? 'always' : 'never', split: true };
}

/** tokenizer.json for an XLM-R tokenizer over `sp` (call xlmrJsonUnsupported first). */
export function xlmrTokenizerJson(sp: SentencePieceModel, maskLstrip: boolean): Record<string, unknown> {
  const { pieces, normalizerSpec: ns, trainerSpec } = sp.proto;
  const normalizers: JsonNode[] = [];
  if (ns.precompiledCharsmap?.length) normalizers.push({ type: 'Precompiled', precompiled_charsmap: Buffer.from(ns.precompiledCharsmap).toString('base64') });
  // SentencePiece drops leading/trailing spaces and collapses runs; the Metaspace pre-tokenizer then splits on '▁'
  if (ns.removeExtraWhitespaces) normalizers.push({ type: 'Strip', strip_left: false, strip_right: true }, { type: 'Replace', pattern: { Regex: EXTRA_SPACES }, content: '\u2581' });
  const vocab: Array<[string, number]> = [...FAIRSEQ_HEAD.map((t): [string, number] => [t, 0]), ...pieces.slice(3).map((p): [string, number] => [p.piece, p.score]), ['<mask>', 0]];
  const seq = (id: 'A' | 'B') => ({ Sequence: { id, type_id: 0 } });
  const [bos, eos] = ['<s>', '</s>'].map((id) => ({ SpecialToken: { id, type_id: 0 } }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: xlmrAddedTokens(sp, maskLstrip),
    normalizer: normalizers.length ? { type: 'Sequence', normalizers } : null,
    pre_tokenizer: metaspace(ns.addDummyPrefix),
    post_processor: {
      type: 'TemplateProcessing',
      single: [bos, seq('A'), eos],
      pair: [bos, seq('A'), eos, eos, seq('B'), eos],
      special_tokens: { '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] }, '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] } },
    },
    decoder: metaspace(ns.addDummyPrefix),
    model: { type: 'Unigram', unk_id: 3, vocab, byte_fallback: trainerSpec.byteFallback },
  };
}

/** The SentencePiece normaliser a tokenizer.json describes (its charsmap, whitespace handling, dummy prefix). */
function normalizerSpecOf(json: TokenizerJson): NormalizerSpec {
  const norms = components(json.normalizer);
  const pres = components(json.pre_tokenizer);
  const charsmap = norms.find((n) => n.type === 'Precompiled')?.precompiled_charsmap;
  const meta = pres.find((n) => n.type === 'Metaspace');
  if (!meta) throw new Error(`${json.file}: no Metaspace pre-tokenizer (not a SentencePiece tokenizer)`);
  // transformers < 4.36 wrote add_prefix_space; later versions prepend_scheme
  const addDummyPrefix = meta.prepend_scheme !== undefined ? meta.prepend_scheme !== 'never' : meta.add_prefix_space !== false;
  const collapses = (n: JsonNode) =>
    n.type === 'Strip' || n.type === 'WhitespaceSplit' || (n.type === 'Replace' && (n.pattern as { Regex?: string } | undefined)?.Regex === EXTRA_SPACES);
  const blob = typeof charsmap === 'string' && charsmap ? new Uint8Array(Buffer.from(charsmap, 'base64')) : undefined;
  return {
    name: blob ? 'nmt_nfkc' : 'identity',
    precompiledCharsmap: blob,
    addDummyPrefix,
    removeExtraWhitespaces: [...norms, ...pres].some(collapses),
    escapeWhitespaces: true,
  };
}

/** The SentencePiece model and <mask>'s lstrip of an XLM-R tokenizer.json (a Unigram model in fairseq layout). */
export function xlmrFromTokenizerJson(json: TokenizerJson): { sp: SentencePieceModel; maskLstrip: boolean } {
  const { model, file } = json;
  const vocab = model.vocab as unknown;
  const bad = (why: string) => new Error(`${file}: not an XLM-R tokenizer (${why})`);
  if (model.type !== 'Unigram') throw bad(`model type ${String(model.type)}, expected Unigram`);
  if (!Array.isArray(vocab) || !vocab.every((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number')) throw bad('model.vocab is not a list of [piece, score]');
  const entries = vocab as Array<[string, number]>;
  const head = entries.slice(0, 4).map((e) => e[0]);
  if (head.join() !== FAIRSEQ_HEAD.join() || model.unk_id !== 3) throw bad(`the vocabulary starts ${JSON.stringify(head)} with unk_id ${String(model.unk_id)}, expected ${JSON.stringify(FAIRSEQ_HEAD)} and 3`);
  if (entries[entries.length - 1][0] !== '<mask>') throw bad('the last vocabulary entry is not <mask>');
  const added = new Map((json.added_tokens ?? []).map((t) => [t.id, t]));
  const pieces: SentencePiece[] = [
    ...SPM_HEAD.map(([piece, type]) => ({ piece, score: 0, type })),
    ...entries.slice(4, -1).map(([piece, score], i) => {
      const t = added.get(i + 4);
      return { piece, score, type: t ? (t.special ? PieceType.CONTROL : PieceType.USER_DEFINED) : PieceType.NORMAL };
    }),
  ];
  const trainerSpec: TrainerSpec = { ...defaultTrainerSpec(), modelType: 1, vocabSize: pieces.length, byteFallback: model.byte_fallback === true };
  let sp: SentencePieceModel;
  try {
    sp = SentencePieceModel.fromProto({ pieces, trainerSpec, normalizerSpec: normalizerSpecOf(json) });
  } catch (e) {
    throw bad((e as Error).message);
  }
  return { sp, maskLstrip: added.get(entries.length - 1)?.lstrip ?? true };
}
