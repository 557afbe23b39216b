/** What every text tokenizer returns: one row per text, equally long when padded. */
export interface Encoding {
  inputIds: number[][];
  attentionMask: number[][];
}

export interface SaveOptions {
  /** tokenizer_config.json's model_max_length: where transformers truncates (default: the tokenizer's own) */
  modelMaxLength?: number;
}

/** The common interface the models, eval and train packages code against. */
export interface TextTokenizer {
  encode(texts: string | string[], opts?: Record<string, unknown>): Encoding;
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** Writes the tokenizer files; modelMaxLength (the model's text length) goes into tokenizer_config.json. */
  save(dir: string, opts?: SaveOptions): void | Promise<void>;
  /** total number of ids (embedding rows) */
  readonly vocabSize: number;
  readonly padTokenId: number;
}
