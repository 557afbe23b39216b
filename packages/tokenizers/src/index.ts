export * from './proto';
export { SentencePieceModel, EncodedPiece } from './spm';
export { Normalizer } from './normalizer';
export { XLMRobertaTokenizer, XlmrEncodeOptions, XlmrDecodeOptions, Padding, cleanUpTokenization, SPM_FILE } from './xlmr';
export { Encoding, TextTokenizer } from './types';
