import * as fs from 'fs';
import * as path from 'path';
import { CLIPTokenizer } from './clip-bpe';
import { TextTokenizer } from './types';
import { SPM_FILE, XLMRobertaTokenizer } from './xlmr';

/** A model folder's tokenizer: XLM-R when it has sentencepiece.bpe.model, CLIP BPE otherwise. */
export async function loadTokenizer(dir: string): Promise<XLMRobertaTokenizer | CLIPTokenizer> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`tokenizer folder not found: ${dir}`);
  if (fs.existsSync(path.join(dir, SPM_FILE))) return XLMRobertaTokenizer.fromPretrained(dir);
  return CLIPTokenizer.fromPretrained(dir);
}

export type { TextTokenizer };
