/**
 * XLM-R tokenizer = transformers' slow XLMRobertaTokenizer: SentencePiece pieces with the fairseq id
 * layout (<s>=0, <pad>=1, </s>=2, <unk>=3, spm id + 1, <mask> = len(spm) + 1), literal special tokens split
 * out before SentencePiece (<mask> eats the whitespace on its left), [0] + ids + [2], right padding with 1.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { SnapshotOptions } from '@altclip/checkpoint';
import { resolveTokenizerDir } from './hub';
import { SentencePieceModel } from './spm';
import { Encoding, SaveOptions, TextTokenizer } from './types';
import { addedTokensDecoder, readTokenizerJson, TOKENIZER_JSON, writeJsonFile, writeTokenizerJson } from './hf-json';
import { xlmrAddedTokens, xlmrFromTokenizerJson, xlmrJsonUnsupported, xlmrTokenizerJson } from './xlmr-json';
import { atomicWrite, pyLstrip, pyRstrip, pyStrip, readFileOrThrow, readJsonIfExists } from './util';

export type Padding = 'longest' | 'max_length' | boolean;

export interface XlmrEncodeOptions {
  /** truncation / 'max_length' padding length; defaults to modelMaxLength */
  maxLength?: number;
  /** default 'longest' (rectangular output); true = 'longest'; false = ragged rows */
  padding?: Padding;
  /** default true: keep the first maxLength - 2 content ids (HF's default is false; the model cannot take more) */
  truncation?: boolean;
}

export interface XlmrDecodeOptions {
  skipSpecialTokens?: boolean;
  /** transformers' clean_up_tokenization_spaces (default false, as for XLM-R since 4.45) */
  cleanUpTokenizationSpaces?: boolean;
}

interface SpecialToken {
  content: string;
  id: number;
  lstrip: boolean;
  rstrip: boolean;
}

export const SPM_FILE = 'sentencepiece.bpe.model';
const FAIRSEQ: Record<string, number> = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3 };

export class XLMRobertaTokenizer implements TextTokenizer {
  readonly bosTokenId = 0;
  readonly padTokenId = 1;
  readonly eosTokenId = 2;
  readonly unkTokenId = 3;
  readonly maskTokenId: number;
  readonly vocabSize: number;
  private specials: SpecialToken[];
  private specialIds: Set<number>;

  constructor(readonly sp: SentencePieceModel, readonly modelMaxLength = 512, maskLstrip = true) {
    this.maskTokenId = sp.size + 1;
    this.vocabSize = sp.size + 2;
    this.specials = [
      ...Object.entries(FAIRSEQ).map(([content, id]) => ({ content, id, lstrip: false, rstrip: false })),
      { content: '<mask>', id: this.maskTokenId, lstrip: maskLstrip, rstrip: false },
    ];
    this.specialIds = new Set(this.specials.map((s) => s.id));
  }

  /** Loads a SentencePiece model file (e.g. sentencepiece.bpe.model). */
  static async fromFile(spmPath: string, opts: { modelMaxLength?: number } = {}): Promise<XLMRobertaTokenizer> {
    const bytes = readFileOrThrow(spmPath, 'SentencePiece model');
    return new XLMRobertaTokenizer(SentencePieceModel.fromBytes(new Uint8Array(bytes), spmPath), opts.modelMaxLength ?? 512);
  }

  static fromBytes(bytes: Uint8Array, opts: { modelMaxLength?: number; source?: string } = {}): XLMRobertaTokenizer {
    return new XLMRobertaTokenizer(SentencePieceModel.fromBytes(bytes, opts.source), opts.modelMaxLength ?? 512);
  }

  /**
   * A Hugging Face model folder: sentencepiece.bpe.model (else tokenizer.json) + tokenizer_config.json +
   * special_tokens_map.json.
   */
  static async fromPretrained(spec: string, opts: { hub?: SnapshotOptions } = {}): Promise<XLMRobertaTokenizer> {
    const dir = await resolveTokenizerDir(spec, opts.hub);
    const spmPath = path.join(dir, SPM_FILE);
    const jsonPath = path.join(dir, TOKENIZER_JSON);
    let sp: SentencePieceModel;
    let lstrip = true;
    if (!fs.existsSync(spmPath) && fs.existsSync(jsonPath)) ({ sp, maskLstrip: lstrip } = xlmrFromTokenizerJson(readTokenizerJson(jsonPath)));
    else sp = SentencePieceModel.fromBytes(new Uint8Array(readFileOrThrow(spmPath, 'SentencePiece model')), spmPath);
    const config = readJsonIfExists(path.join(dir, 'tokenizer_config.json')) ?? {};
    const map = readJsonIfExists(path.join(dir, 'special_tokens_map.json')) ?? {};
    let maxLen = 512;
    const m = config.model_max_length;
    // HF writes ~1e30 for "no limit"
    if (typeof m === 'number' && m > 0 && m < 1e9) maxLen = m;
    const maskDef = (config.mask_token ?? map.mask_token) as unknown;
    if (maskDef && typeof maskDef === 'object' && 'lstrip' in maskDef) lstrip = Boolean((maskDef as { lstrip: unknown }).lstrip);
    const decoder = config.added_tokens_decoder as Record<string, { content?: string; lstrip?: boolean }> | undefined;
    if (decoder) for (const t of Object.values(decoder)) if (t.content === '<mask>' && t.lstrip !== undefined) lstrip = t.lstrip;
    return new XLMRobertaTokenizer(sp, maxLen, lstrip);
  }

  /**
   * Writes sentencepiece.bpe.model (the original bytes), tokenizer.json (what transformers >= 5 reads),
   * tokenizer_config.json and special_tokens_map.json.
   */
  save(dir: string, opts: SaveOptions = {}): void {
    fs.mkdirSync(dir, { recursive: true });
    atomicWrite(path.join(dir, SPM_FILE), this.sp.bytes);
    const maskLstrip = this.specials[4].lstrip;
    const why = xlmrJsonUnsupported(this.sp);
    if (why) {
      fs.rmSync(path.join(dir, TOKENIZER_JSON), { force: true }); // a stale one would describe another tokenizer
      process.emitWarning(`${dir}: no ${TOKENIZER_JSON} written, so transformers >= 5 cannot load this tokenizer: the SentencePiece model's ${why}`);
    } else writeTokenizerJson(dir, xlmrTokenizerJson(this.sp, maskLstrip));
    const maskTok = { content: '<mask>', lstrip: maskLstrip, normalized: false, rstrip: false, single_word: false, special: true };
    const names = { bos_token: '<s>', cls_token: '<s>', eos_token: '</s>', mask_token: '<mask>', pad_token: '<pad>', sep_token: '</s>', unk_token: '<unk>' };
    writeJsonFile(dir, 'tokenizer_config.json', {
      added_tokens_decoder: addedTokensDecoder(xlmrAddedTokens(this.sp, maskLstrip)),
      add_prefix_space: this.sp.proto.normalizerSpec.addDummyPrefix,
      ...names,
      model_max_length: opts.modelMaxLength ?? this.modelMaxLength,
      clean_up_tokenization_spaces: false,
      tokenizer_class: 'XLMRobertaTokenizer',
    });
    writeJsonFile(dir, 'special_tokens_map.json', { ...names, mask_token: maskTok });
  }

  /** Splits out literal special tokens (earliest match, longest at that position), applying lstrip/rstrip. */
  private splitSpecial(text: string): Array<string | SpecialToken> {
    const parts: Array<string | SpecialToken> = [];
    let pos = 0;
    let textStart = 0;
    while (pos < text.length) {
      let hit: SpecialToken | undefined;
      if (text.charCodeAt(pos) === 0x3c /* '<' */) {
        for (const s of this.specials) if (text.startsWith(s.content, pos) && (!hit || s.content.length > hit.content.length)) hit = s;
      }
      if (!hit) {
        pos++;
        continue;
      }
      if (pos > textStart) parts.push(text.slice(textStart, pos));
      parts.push(hit);
      pos += hit.content.length;
      textStart = pos;
    }
    if (textStart < text.length) parts.push(text.slice(textStart));
    for (let i = 0; i < parts.length; i++) {
      const s = parts[i];
      if (typeof s === 'string') continue;
      if (s.lstrip && typeof parts[i - 1] === 'string') parts[i - 1] = pyRstrip(parts[i - 1] as string);
      if (s.rstrip && typeof parts[i + 1] === 'string') parts[i + 1] = pyLstrip(parts[i + 1] as string);
    }
    return parts.filter((p) => p !== '');
  }

  /** transformers' tokenizer.tokenize(text): SentencePiece pieces, special tokens kept as strings. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const part of this.splitSpecial(text)) {
      if (typeof part === 'string') for (const p of this.sp.encode(part)) out.push(p.piece);
      else out.push(part.content);
    }
    return out;
  }

  /** Content ids of one text (no <s>/</s>). */
  encodeIds(text: string): number[] {
    const out: number[] = [];
    for (const part of this.splitSpecial(text)) {
      if (typeof part === 'string') for (const id of this.sp.encodeIds(part)) out.push(this.spmToFairseq(id));
      else out.push(part.id);
    }
    return out;
  }

  private spmToFairseq(spmId: number): number {
    return spmId === 0 ? this.unkTokenId : spmId + 1;
  }

  convertTokensToIds(tokens: string[]): number[] {
    return tokens.map((t) => {
      if (t in FAIRSEQ) return FAIRSEQ[t];
      if (t === '<mask>') return this.maskTokenId;
      return this.spmToFairseq(this.sp.pieceToId(t));
    });
  }

  convertIdsToTokens(ids: number[]): string[] {
    return ids.map((id) => {
      const s = this.specials.find((t) => t.id === id);
      if (s) return s.content;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`token id ${id} out of range [0, ${this.vocabSize})`);
      return this.sp.idToPiece(id - 1);
    });
  }

  /** transformers' tokenizer(texts, max_length, truncation, padding) -> input_ids / attention_mask. */
  encode(texts: string | string[], opts: XlmrEncodeOptions = {}): Encoding {
    const list = typeof texts === 'string' ? [texts] : texts;
    const maxLength = opts.maxLength ?? this.modelMaxLength;
    if (!(maxLength >= 2)) throw new RangeError(`maxLength must be >= 2 (room for <s> and </s>), got ${maxLength}`);
    const truncation = opts.truncation ?? true;
    const padding = opts.padding === undefined || opts.padding === true ? 'longest' : opts.padding;
    const inputIds = list.map((t) => {
      let ids = this.encodeIds(t);
      if (truncation && ids.length > maxLength - 2) ids = ids.slice(0, maxLength - 2);
      return [this.bosTokenId, ...ids, this.eosTokenId];
    });
    const attentionMask = inputIds.map((r) => r.map(() => 1));
    let target = 0;
    if (padding === 'longest') target = inputIds.reduce((m, r) => Math.max(m, r.length), 0);
    else if (padding === 'max_length') target = maxLength;
    for (let i = 0; i < inputIds.length; i++) {
      while (inputIds[i].length < target) {
        inputIds[i].push(this.padTokenId);
        attentionMask[i].push(0);
      }
    }
    return { inputIds, attentionMask };
  }

  /** transformers' tokenizer.decode(ids, skip_special_tokens, clean_up_tokenization_spaces). */
  decode(ids: number[], opts: XlmrDecodeOptions = {}): string {
    const kept = opts.skipSpecialTokens ? ids.filter((id) => !this.specialIds.has(id)) : ids;
    let text = pyStrip(this.convertIdsToTokens(kept).join('').replace(/\u2581/g, ' '));
    if (opts.cleanUpTokenizationSpaces) text = cleanUpTokenization(text);
    return text;
  }

  batchDecode(rows: number[][], opts: XlmrDecodeOptions = {}): string[] {
    return rows.map((r) => this.decode(r, opts));
  }
}

/** transformers' PreTrainedTokenizerBase.clean_up_tokenization. */
export function cleanUpTokenization(s: string): string {
  const rules: Array<[string, string]> = [
    [' .', '.'], [' ?', '?'], [' !', '!'], [' ,', ','], [" ' ", "'"],
    [" n't", "n't"], [" 'm", "'m"], [" 's", "'s"], [" 've", "'ve"], [" 're", "'re"],
  ];
  for (const [a, b] of rules) s = s.split(a).join(b);
  return s;
}
