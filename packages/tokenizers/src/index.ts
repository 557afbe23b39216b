export * from './proto';
export { SentencePieceModel, EncodedPiece } from './spm';
export { Normalizer } from './normalizer';
export { XLMRobertaTokenizer, XlmrEncodeOptions, XlmrDecodeOptions, Padding, cleanUpTokenization, SPM_FILE } from './xlmr';
export { Encoding, TextTokenizer } from './types';
export { CLIPTokenizer, ClipEncodeOptions, basicClean, whitespaceClean, bytesToUnicode, DEFAULT_CLIP_VOCAB, CLIP_VOCAB_FILE } from './clip-bpe';
export { fixText } from './ftfy';
export { htmlUnescape } from './html';
