/** What every text tokenizer returns: one row per text, equally long when padded. */
export interface Encoding {
  inputIds: number[][];
  attentionMask: number[][];
}

/** The common interface the models, eval and train packages code against. */
export interface TextTokenizer {
  encode(texts: string | string[], opts?: Record<string, unknown>): Encoding;
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  save(dir: string): void | Promise<void>;
  /** total number of ids (embedding rows) */
  readonly vocabSize: number;
  readonly padTokenId: number;
}
