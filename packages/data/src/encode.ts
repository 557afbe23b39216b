import * as tf from '@tensorflow/tfjs-core';

/** @altclip/tokenizers' TextTokenizer, structurally: XLM-R takes maxLength/padding/truncation, CLIP contextLength/truncate. */
export interface TokenizerLike {
  encode(texts: string | string[], opts?: Record<string, unknown>): { inputIds: number[][]; attentionMask: number[][] };
  /** XLM-R's <unk> (CLIP's byte-level BPE has none). */
  readonly unkTokenId?: number;
  decode?(ids: number[]): string;
}

/**
 * Whether a row of ids holds nothing but <unk> between its start and end tokens (and word-boundary pieces that decode
 * to white space): the text's characters are all unknown to the tokenizer.
 */
function unknownOnly(tokenizer: TokenizerLike, ids: number[], mask: number[], unk: number): boolean {
  const content = ids.filter((id, j) => mask[j] && j > 0 && j < mask.lastIndexOf(1));
  return content.includes(unk) && content.every((id) => id === unk || tokenizer.decode?.([id]).trim() === '');
}

/**
 * Tokenises texts with options both tokenizer kinds understand; returns int32 tensors [B, L]. `onUnknownOnly` is
 * called for each text that tokenizes to nothing but <unk>: the model sees the same input for all of them.
 */
export function encodeTexts(tokenizer: TokenizerLike, texts: string[], maxLength: number, onUnknownOnly?: (text: string) => void): { ids: tf.Tensor2D; mask: tf.Tensor2D } {
  const enc = tokenizer.encode(texts, { maxLength, padding: 'longest', truncation: true, contextLength: maxLength, truncate: true });
  const unk = tokenizer.unkTokenId;
  if (onUnknownOnly && unk !== undefined) enc.inputIds.forEach((row, i) => unknownOnly(tokenizer, row, enc.attentionMask[i], unk) && onUnknownOnly(texts[i]));
  const b = enc.inputIds.length;
  const full = enc.inputIds[0]?.length ?? 0;
  // CLIP's tokenizer always pads to contextLength; columns that are padding in every row change no feature
  // (padding is masked, and CLIP's causal attention never looks past the EOS token), so they are dropped: the
  // text tower's cost grows with L, and short captions would otherwise pay for all of it.
  let l = 0;
  enc.attentionMask.forEach((m) => {
    for (let j = m.length - 1; j >= l; j--) if (m[j]) {
      l = j + 1;
      break;
    }
  });
  if (b > 0 && l === 0) l = full;
  const flatIds = new Int32Array(b * l);
  const flatMask = new Int32Array(b * l);
  enc.inputIds.forEach((row, i) => {
    if (row.length !== full) throw new Error(`tokenizer returned ragged rows (${row.length} vs ${full}); padding expected`);
    flatIds.set(row.length === l ? row : row.slice(0, l), i * l);
    flatMask.set(enc.attentionMask[i].length === l ? enc.attentionMask[i] : enc.attentionMask[i].slice(0, l), i * l);
  });
  return { ids: tf.tensor2d(flatIds, [b, l], 'int32'), mask: tf.tensor2d(flatMask, [b, l], 'int32') };
}
