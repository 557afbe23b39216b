import * as fs from 'fs';
import * as path from 'path';
import type { SnapshotOptions } from '@altclip/checkpoint';
import { resolveTokenizerDir } from './hub';
import { CLIP_VOCAB_FILE, CLIPTokenizer } from './clip-bpe';
import { TextTokenizer } from './types';
import { readJsonIfExists } from './util';
import { readTokenizerJson, TOKENIZER_JSON } from './hf-json';
import { SPM_FILE, XLMRobertaTokenizer } from './xlmr';

/**
 * A model folder's (or hub id's) tokenizer: XLM-R when it has sentencepiece.bpe.model, CLIP BPE with vocab.json +
 * merges.txt or bpe_simple_vocab_16e6.txt.gz, either from a tokenizer.json alone (Unigram: XLM-R, BPE: CLIP), or
 * the shipped CLIP BPE for a CLIP config without tokenizer files. Anything else is an error naming what is missing
 * (guessing CLIP ids for an XLM-R model fails much later, with token ids outside the model's vocabulary).
 */
export async function loadTokenizer(spec: string, opts: { hub?: SnapshotOptions } = {}): Promise<XLMRobertaTokenizer | CLIPTokenizer> {
  const dir = await resolveTokenizerDir(spec, opts.hub);
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  if (has(SPM_FILE)) return XLMRobertaTokenizer.fromPretrained(dir);
  if ((has('vocab.json') && has('merges.txt')) || has(CLIP_VOCAB_FILE)) return CLIPTokenizer.fromPretrained(dir);
  if (has(TOKENIZER_JSON)) {
    const json = readTokenizerJson(path.join(dir, TOKENIZER_JSON));
    if (json.model.type === 'Unigram') return XLMRobertaTokenizer.fromPretrained(dir);
    if (json.model.type === 'BPE') return CLIPTokenizer.fromPretrained(dir);
    throw new Error(`${json.file}: a ${String(json.model.type)} tokenizer; only XLM-R (Unigram) and CLIP (BPE) tokenizers are supported`);
  }
  const modelType = (readJsonIfExists(path.join(dir, 'config.json')) ?? {}).model_type;
  if (modelType === 'clip' || modelType === 'clip_text_model') return CLIPTokenizer.fromPretrained(dir);
  const looked = `${SPM_FILE} (XLM-R), vocab.json + merges.txt or ${CLIP_VOCAB_FILE} (CLIP BPE), ${TOKENIZER_JSON}`;
  const need = modelType === 'altclip' ? `an AltCLIP model needs its XLM-R ${SPM_FILE} or ${TOKENIZER_JSON}: ` : '';
  throw new Error(
    `${dir}: no tokenizer (looked for ${looked}); ${need}copy the tokenizer files of the model it came from into the folder ` +
      `(e.g. from the hub id BAAI/AltCLIP), or pass --tokenizer <folder or hub id> to a command that takes it`,
  );
}

/**
 * Writes the Hugging Face tokenizer files a model folder lacks (e.g. one saved before they were written, or
 * bpe_simple_vocab_16e6.txt.gz alone), from the tokenizer it has, so transformers >= 5 loads it; returns the
 * names written. Only a folder whose tokenizer is sentencepiece.bpe.model or the .gz alone is changed
 * (transformers reads tokenizer.json, or vocab.json + merges.txt). model_max_length is kept.
 */
export async function addHfTokenizerFiles(dir: string): Promise<string[]> {
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  const readable = has(TOKENIZER_JSON) || (has('vocab.json') && has('merges.txt'));
  if (readable || !(has(SPM_FILE) || has(CLIP_VOCAB_FILE))) return [];
  const before = new Set(fs.readdirSync(dir));
  const tok = await loadTokenizer(dir);
  const maxLen = (readJsonIfExists(path.join(dir, 'tokenizer_config.json')) ?? {}).model_max_length;
  tok.save(dir, typeof maxLen === 'number' && maxLen < 1e9 ? { modelMaxLength: maxLen } : {});
  return fs.readdirSync(dir).filter((f) => !before.has(f)).sort();
}
