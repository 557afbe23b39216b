import type { TextTokenizer } from '@altclip/tokenizers';

/** Characters -> ids below the tiny teacher's vocab (300); EOS (299) is the largest id, as CLIP's argmax pooling wants. */
export const charTokenizer: TextTokenizer = {
  vocabSize: 300,
  padTokenId: 0,
  encode(texts: string | string[], opts: any = {}) {
    const list = Array.isArray(texts) ? texts : [texts];
    const max = opts.contextLength ?? opts.maxLength ?? 16;
    const rows = list.map((t) => [298, ...[...t].slice(0, max - 2).map((c) => 3 + (c.codePointAt(0)! % 290)), 299]);
    const L = Math.max(...rows.map((r) => r.length));
    return { inputIds: rows.map((r) => [...r, ...Array(L - r.length).fill(0)]), attentionMask: rows.map((r) => [...r.map(() => 1), ...Array(L - r.length).fill(0)]) };
  },
  decode: () => '',
  save: () => undefined,
};
