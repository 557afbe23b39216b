/**
 * openai/CLIP's SimpleTokenizer + clip.tokenize: ftfy + html.unescape cleaning, whitespace collapse,
 * lower-casing, the pre-tokenisation regex, byte-level BPE by merge rank (cached per word), and
 * [<|startoftext|>] + ids + [<|endoftext|>] zero-padded to the context length.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import type { SnapshotOptions } from '@altclip/checkpoint';
import { fixText } from './ftfy';
import { resolveTokenizerDir } from './hub';
import { htmlUnescape } from './html';
import { Encoding, SaveOptions, TextTokenizer } from './types';
import { clipAddedTokens, clipFromTokenizerJson, clipMergesTxt, clipTokenizerJson, clipVocabJson, EOT, SOT } from './clip-json';
import { addedTokensDecoder, readTokenizerJson, TOKENIZER_JSON, writeJsonFile, writeTokenizerJson } from './hf-json';
import { atomicWrite, PY_WHITESPACE, pyStrip, readFileOrThrow } from './util';

export const CLIP_VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';
/** The vocabulary shipped with this package (assets/ sits next to src/ and dist/). */
export const DEFAULT_CLIP_VOCAB = path.resolve(__dirname, '..', 'assets', CLIP_VOCAB_FILE);
const NUM_MERGES = 49152 - 256 - 2;

export interface ClipEncodeOptions {
  /** default 77 */
  contextLength?: number;
  /** true: keep the first contextLength ids with eot last; false (default, like openai): throw if too long */
  truncate?: boolean;
}

/** openai's bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100 onwards. */
export function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  let n = 0;
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  for (let b = 0; b < 256; b++) if (printable(b)) table[b] = String.fromCharCode(b);
  for (let b = 0; b < 256; b++) if (!printable(b)) table[b] = String.fromCharCode(256 + n++);
  return table;
}

const WS_RUN = new RegExp(`[${PY_WHITESPACE}]+`, 'g');
// openai compiles this with IGNORECASE. The text is lower-cased first, so only the literal alternatives need
// case folding (long s 'ſ' folds to 's'); a JS /i flag would also let [\p{L}] match marks such as U+0345
// whose case fold is a letter, which Python's regex module does not do. With IGNORECASE, Python's negated
// class rejects U+0345 (its case variants are letters) while [\p{L}] does not take it either: it is dropped.
const PAT = new RegExp(
  `<\\|[sſ]tartoftext\\|>|<\\|endoftext\\|>|'[sſ]|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${PY_WHITESPACE}\\p{L}\\p{N}\\u0345]+`,
  'gu',
);

/** The regex findall over cleaned, lower-cased text. */
export function clipPreTokenize(cleanedLower: string): string[] {
  return cleanedLower.match(PAT) ?? [];
}

/** basic_clean: ftfy.fix_text, html.unescape twice, strip. */
export function basicClean(text: string): string {
  return pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
}

/** whitespace_clean: collapse whitespace runs (Python's \s) to one space, strip. */
export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(WS_RUN, ' '));
}

export class CLIPTokenizer implements TextTokenizer {
  readonly sotTokenId: number;
  readonly eotTokenId: number;
  readonly padTokenId = 0;
  private encoder = new Map<string, number>();
  private decoder: string[] = [];
  private ranks = new Map<string, number>();
  private byteEncoder = bytesToUnicode();
  private byteDecoder = new Map<string, number>();
  private cache = new Map<string, number[]>();
  /** words cached at most (keeps memory bounded on huge corpora) */
  cacheLimit = 1_000_000;

  /** merges: "a b" lines in rank order (48,894 for the openai vocabulary). */
  constructor(readonly merges: string[]) {
    this.byteEncoder.forEach((ch, b) => this.byteDecoder.set(ch, b));
    // ids 0..255 follow bytes_to_unicode's construction order (printable bytes first), not byte order
    const chars = [...this.byteEncoder].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));
    const vocab = [...chars, ...chars.map((c) => c + '</w>')];
    merges.forEach((m, i) => {
      const parts = m.split(' ');
      if (parts.length !== 2 || !parts[0] || !parts[1]) throw new Error(`merge ${i + 1} is not "a b": ${JSON.stringify(m)}`);
      this.ranks.set(m, i);
      vocab.push(parts[0] + parts[1]);
    });
    vocab.push(SOT, EOT);
    vocab.forEach((tok, i) => this.encoder.set(tok, i));
    this.decoder = vocab;
    this.sotTokenId = this.encoder.get(SOT)!;
    this.eotTokenId = this.encoder.get(EOT)!;
  }

  get vocabSize(): number {
    return this.decoder.length;
  }

  /** Loads a bpe_simple_vocab_16e6.txt.gz (default: the copy shipped in this package). */
  static async load(vocabGzPath: string = DEFAULT_CLIP_VOCAB): Promise<CLIPTokenizer> {
    const gz = readFileOrThrow(vocabGzPath, 'CLIP BPE vocabulary');
    let text: string;
    try {
      text = zlib.gunzipSync(gz).toString('utf8');
    } catch (e) {
      throw new Error(`${vocabGzPath}: not a gzip file (${(e as Error).message})`);
    }
    const lines = text.split('\n');
    const merges = lines.slice(1, NUM_MERGES + 1);
    if (merges.length < NUM_MERGES) throw new Error(`${vocabGzPath}: ${merges.length} merges, expected ${NUM_MERGES}`);
    try {
      return new CLIPTokenizer(merges);
    } catch (e) {
      throw new Error(`${vocabGzPath}: ${(e as Error).message}`);
    }
  }

  /**
   * HF folder (vocab.json + merges.txt, else tokenizer.json), else a bpe_simple_vocab_16e6.txt.gz in dir, else
   * the shipped vocab.
   */
  static async fromPretrained(spec: string, opts: { hub?: SnapshotOptions } = {}): Promise<CLIPTokenizer> {
    const dir = await resolveTokenizerDir(spec, opts.hub);
    const mergesPath = path.join(dir, 'merges.txt');
    const vocabPath = path.join(dir, 'vocab.json');
    if (fs.existsSync(mergesPath) && fs.existsSync(vocabPath)) {
      const lines = fs.readFileSync(mergesPath, 'utf8').split('\n');
      // HF's merges.txt starts with a "#version" line and may end with a blank one
      const merges = lines.filter((l, i) => !(i === 0 && l.startsWith('#version')) && l.trim() !== '');
      return withVocabCheck(merges, readVocabJson(vocabPath), vocabPath);
    }
    const gz = path.join(dir, CLIP_VOCAB_FILE);
    const json = path.join(dir, TOKENIZER_JSON);
    if (!fs.existsSync(gz) && fs.existsSync(json)) {
      const { merges, vocab } = clipFromTokenizerJson(readTokenizerJson(json));
      return withVocabCheck(merges, vocab, json);
    }
    return CLIPTokenizer.load(fs.existsSync(gz) ? gz : DEFAULT_CLIP_VOCAB);
  }

  /**
   * Writes what transformers' CLIPTokenizer reads and writes: vocab.json, merges.txt, tokenizer.json,
   * tokenizer_config.json and special_tokens_map.json; fromPretrained(dir) reads the same tokenizer back.
   * The pad token is <|endoftext|>, as in openai's folders on the hub: padding with "!" (id 0, as clip.tokenize
   * does) would make transformers split every "!" out of the text as a special token. So transformers' padded
   * rows hold 49407 where ours hold 0; the text models mask padding, so their outputs do not change.
   */
  save(dir: string, opts: SaveOptions = {}): void {
    fs.mkdirSync(dir, { recursive: true });
    atomicWrite(path.join(dir, 'vocab.json'), clipVocabJson(this.decoder));
    atomicWrite(path.join(dir, 'merges.txt'), clipMergesTxt(this.merges));
    writeTokenizerJson(dir, clipTokenizerJson(this.decoder, this.merges));
    const names = { bos_token: SOT, eos_token: EOT, pad_token: EOT, unk_token: EOT };
    writeJsonFile(dir, 'tokenizer_config.json', {
      add_prefix_space: false,
      added_tokens_decoder: addedTokensDecoder(clipAddedTokens(this.sotTokenId, this.eotTokenId)),
      ...names,
      clean_up_tokenization_spaces: false,
      do_lower_case: true,
      errors: 'replace',
      model_max_length: opts.modelMaxLength ?? 77,
      tokenizer_class: 'CLIPTokenizer',
    });
    writeJsonFile(dir, 'special_tokens_map.json', names);
  }

  /** The cleaned, lower-cased text that is pre-tokenised. */
  clean(text: string): string {
    return whitespaceClean(basicClean(text)).toLowerCase();
  }

  /** Pre-tokenised words of a text (the regex findall). */
  words(text: string): string[] {
    return clipPreTokenize(this.clean(text));
  }

  /** BPE symbols of one word, the last with '</w>' (SimpleTokenizer.bpe). */
  bpe(word: string): string[] {
    if (word === SOT || word === EOT) return [word];
    const token = Array.from(Buffer.from(word, 'utf8'), (b) => this.byteEncoder[b]);
    if (token.length === 0) return [];
    let parts = [...token.slice(0, -1), token[token.length - 1] + '</w>'];
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = this.ranks.get(parts[i] + ' ' + parts[i + 1]);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = parts[best];
      const second = parts[best + 1];
      // merge every occurrence of the pair, left to right
      const next: string[] = [];
      for (let i = 0; i < parts.length; ) {
        if (i + 1 < parts.length && parts[i] === first && parts[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else next.push(parts[i++]);
      }
      parts = next;
    }
    return parts;
  }

  private wordIds(word: string): number[] {
    let ids = this.cache.get(word);
    if (!ids) {
      ids = this.bpe(word).map((s) => this.encoder.get(s)!);
      if (this.cache.size >= this.cacheLimit) this.cache.clear();
      this.cache.set(word, ids);
    }
    return ids;
  }

  /** SimpleTokenizer.encode: ids without sot/eot. */
  encodeText(text: string): number[] {
    const out: number[] = [];
    for (const w of this.words(text)) for (const id of this.wordIds(w)) out.push(id);
    return out;
  }

  /** clip.tokenize(texts, context_length, truncate): rows of contextLength ids, zero padded. */
  encode(texts: string | string[], opts: ClipEncodeOptions = {}): Encoding {
    const list = typeof texts === 'string' ? [texts] : texts;
    const ctx = opts.contextLength ?? 77;
    if (!(ctx >= 2)) throw new RangeError(`contextLength must be >= 2, got ${ctx}`);
    const inputIds: number[][] = [];
    const attentionMask: number[][] = [];
    list.forEach((text, i) => {
      let ids = [this.sotTokenId, ...this.encodeText(text), this.eotTokenId];
      if (ids.length > ctx) {
        if (!opts.truncate) throw new Error(`Input ${i} (${JSON.stringify(text.slice(0, 60))}) is too long for context length ${ctx}`);
        ids = ids.slice(0, ctx);
        ids[ctx - 1] = this.eotTokenId;
      }
      const row = new Array<number>(ctx).fill(0);
      const mask = new Array<number>(ctx).fill(0);
      ids.forEach((id, k) => {
        row[k] = id;
        mask[k] = 1;
      });
      inputIds.push(row);
      attentionMask.push(mask);
    });
    return { inputIds, attentionMask };
  }

  /** SimpleTokenizer.decode: '</w>' becomes a space (so a trailing space remains); bad UTF-8 becomes U+FFFD. */
  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    const bytes: number[] = [];
    const kept = opts.skipSpecialTokens ? ids.filter((id) => id !== this.sotTokenId && id !== this.eotTokenId && id !== 0) : ids;
    for (const id of kept) {
      const tok = this.decoder[id];
      if (tok === undefined) throw new RangeError(`token id ${id} out of range [0, ${this.vocabSize})`);
      for (const ch of tok) {
        const b = this.byteDecoder.get(ch);
        if (b === undefined) throw new Error(`token ${id} has a character outside the byte alphabet`);
        bytes.push(b);
      }
    }
    return new TextDecoder('utf-8').decode(Uint8Array.from(bytes)).replace(/<\/w>/g, ' ');
  }
}

function readVocabJson(vocabPath: string): Record<string, number> {
  try {
    return JSON.parse(fs.readFileSync(vocabPath, 'utf8'));
  } catch (e) {
    throw new Error(`${vocabPath}: invalid JSON (${(e as Error).message})`);
  }
}

/** The tokenizer of these merges, checked against the vocabulary stored beside them (`file` names it). */
function withVocabCheck(merges: string[], vocab: Record<string, number>, file: string): CLIPTokenizer {
  let tok: CLIPTokenizer;
  try {
    tok = new CLIPTokenizer(merges.slice(0, NUM_MERGES));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  // the ids are implied by the merge order; a vocabulary that disagrees means a different tokenizer
  const n = Object.keys(vocab).length;
  if (n !== tok.vocabSize) throw new Error(`${file}: ${n} vocabulary entries, but the merges imply ${tok.vocabSize}`);
  if (vocab[SOT] !== tok.sotTokenId || vocab[EOT] !== tok.eotTokenId) throw new Error(`${file}: special token ids differ from the merges order`);
  return tok;
}
