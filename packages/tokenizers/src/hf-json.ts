/**
 * Pieces of the Hugging Face tokenizer files (tokenizer.json, tokenizer_config.json, special_tokens_map.json)
 * shared by the XLM-R and CLIP writers and readers. transformers >= 5 reads tokenizer.json (it no longer
 * converts a sentencepiece or openai vocabulary without extra packages), so every folder we save carries one.
 */
import * as fs from 'fs';
import * as path from 'path';
import { atomicWrite } from './util';

export const TOKENIZER_JSON = 'tokenizer.json';

/** One entry of tokenizer.json's added_tokens (tokenizers' AddedToken serialization, keys in its order). */
export interface HfAddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export function addedToken(id: number, content: string, opts: { lstrip?: boolean; normalized?: boolean; special?: boolean } = {}): HfAddedToken {
  return { id, content, single_word: false, lstrip: opts.lstrip ?? false, rstrip: false, normalized: opts.normalized ?? false, special: opts.special ?? true };
}

/** tokenizer_config.json's added_tokens_decoder: the same tokens keyed by id (what transformers 4.34+ writes). */
export function addedTokensDecoder(tokens: HfAddedToken[]): Record<string, Omit<HfAddedToken, 'id'>> {
  const out: Record<string, Omit<HfAddedToken, 'id'>> = {};
  for (const { id, ...rest } of tokens) out[String(id)] = rest;
  return out;
}

/** Writes dir/name as 2-space indented JSON (the layout of the files transformers writes). */
export function writeJsonFile(dir: string, name: string, value: unknown): void {
  atomicWrite(path.join(dir, name), JSON.stringify(value, null, 2) + '\n');
}

/**
 * Writes tokenizer.json on one line: indented, a 250,002-piece vocabulary takes 16.8 MB and 3.6 s per save
 * (every checkpoint); on one line 8.8 MB and 0.4-0.9 s. tokenizers reads either layout.
 */
export function writeTokenizerJson(dir: string, value: unknown): void {
  atomicWrite(path.join(dir, TOKENIZER_JSON), JSON.stringify(value) + '\n');
}

/** A parsed tokenizer.json with the parts our readers look at; anything malformed is an error naming the file. */
export interface TokenizerJson {
  file: string;
  added_tokens?: HfAddedToken[];
  normalizer?: JsonNode | null;
  pre_tokenizer?: JsonNode | null;
  model: JsonNode & { type?: string };
}

/** A tokenizers component (normalizer, pre-tokenizer, model ...): a `type` plus its fields. */
export type JsonNode = { type?: string; [k: string]: unknown };

export function readTokenizerJson(file: string): TokenizerJson {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || !('model' in raw) || !raw.model || typeof raw.model !== 'object') {
    throw new Error(`${file}: not a tokenizers file (no "model" object)`);
  }
  return { ...(raw as Omit<TokenizerJson, 'file'>), file };
}

/** The components of a node that may be a Sequence (normalizers / pretokenizers), flattened. */
export function components(node: JsonNode | null | undefined): JsonNode[] {
  if (!node) return [];
  const list = (node.normalizers ?? node.pretokenizers) as JsonNode[] | undefined;
  if (node.type === 'Sequence' && Array.isArray(list)) return list.flatMap((n) => components(n));
  return [node];
}
