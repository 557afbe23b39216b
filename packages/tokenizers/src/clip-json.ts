/**
 * CLIP's Hugging Face files: vocab.json, merges.txt and tokenizer.json as transformers' CLIPTokenizer writes
 * them, and the merges back from a tokenizer.json.
 *
 * transformers' tokenizer normalises with NFC + whitespace collapse + lower-casing; it has no ftfy / HTML
 * unescaping, so texts that openai's basic_clean changes (mojibake, "&amp;") get other ids there.
 */
import { addedToken, HfAddedToken, TokenizerJson } from './hf-json';

export const SOT = '<|startoftext|>';
export const EOT = '<|endoftext|>';
/** transformers' CLIPTokenizer pre-tokenisation regex (openai's, matched on lower-cased text). */
const SPLIT = `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+`;

export function clipAddedTokens(sot: number, eot: number): HfAddedToken[] {
  return [addedToken(sot, SOT, { normalized: true }), addedToken(eot, EOT, { normalized: true })];
}

/** vocab.json: token -> id in id order (written by hand: JSON.stringify would put integer-like keys first). */
export function clipVocabJson(vocab: readonly string[]): string {
  return '{\n' + vocab.map((t, i) => `  ${JSON.stringify(t)}: ${i}`).join(',\n') + '\n}\n';
}

/** merges.txt: a version line, then one "a b" merge per line in rank order. */
export function clipMergesTxt(merges: readonly string[]): string {
  return ['#version: 0.2', ...merges].join('\n') + '\n';
}

/** tokenizer.json of transformers' CLIPTokenizer (CLIPConverter's layout). */
export function clipTokenizerJson(vocab: readonly string[], merges: readonly string[]): Record<string, unknown> {
  const sot = vocab.indexOf(SOT);
  const eot = vocab.indexOf(EOT);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: clipAddedTokens(sot, eot),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: SPLIT }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [EOT, eot], cls: [SOT, sot], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: EOT,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges: merges.map((m) => m.split(' ')),
    },
  };
}

/** The merges ("a b", rank order) and vocabulary of a CLIP tokenizer.json (a BPE model with '</w>' word ends). */
export function clipFromTokenizerJson(json: TokenizerJson): { merges: string[]; vocab: Record<string, number> } {
  const { model, file } = json;
  const bad = (why: string) => new Error(`${file}: not a CLIP tokenizer (${why})`);
  if (model.type !== 'BPE') throw bad(`model type ${String(model.type)}, expected BPE`);
  if (model.end_of_word_suffix !== '</w>') throw bad(`end_of_word_suffix ${JSON.stringify(model.end_of_word_suffix)}, expected "</w>"`);
  const raw = model.merges;
  if (!Array.isArray(raw)) throw bad('model.merges is not a list');
  // tokenizers < 0.20 wrote "a b" strings, later versions [a, b] pairs
  const merges = raw.map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && m.every((s) => typeof s === 'string')) return m.join(' ');
    throw bad(`merge ${i} is neither "a b" nor ["a", "b"]`);
  });
  const vocab = model.vocab;
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab)) throw bad('model.vocab is not an object');
  return { merges, vocab: vocab as Record<string, number> };
}
