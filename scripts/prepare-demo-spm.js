#!/usr/bin/env node
/**
 * Derives the demo student's SentencePiece model (datasets/demo-spm/) from the demo's captions
 * (datasets/demo-captions/captions.json). Run once; the output is committed as data.
 *
 *   npx tsc -b packages/cli && node scripts/prepare-demo-spm.js
 *
 * A unigram model whose pieces are
 *   - every character of every demo caption (EN and ZH, training and held-out templates), plus printable ASCII,
 *     so no demo caption (and no plain English text) ever maps to <unk>;
 *   - every English word of the captions as a word-initial piece ("▁photo", "▁t-shirt");
 *   - Chinese words: the class names, tone words and the words of the templates (listed below, the way a word
 *     segmenter would cut them), so the student sees "照片" as one token in every template;
 * each scored log(count / total) with counts taken over the caption set (single characters get +1 smoothing),
 * which makes Viterbi segmentation prefer the longest known word. The special pieces are SentencePiece's usual
 * <unk>=0, <s>=1, </s>=2 (XLM-R's fairseq mapping then gives <s>=0 <pad>=1 </s>=2 <unk>=3 and the rest +1).
 */
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
// Words of the Chinese templates, cut as a word segmenter would; class names and tone words come from the spec.
const ZH_TEMPLATE_WORDS = ['一张', '一幅', '照片', '图片', '图像', '黑白', '低', '分辨率', '灰度', '商品', '特写', '模糊', '纯色', '背景', '上', '中', '小', '的'];

function main() {
  const captions = require(path.join(ROOT, 'packages', 'cli', 'dist', 'demo', 'captions.js'));
  const tokenizers = require(path.join(ROOT, 'packages', 'tokenizers', 'dist'));
  const spec = captions.loadCaptionSpec(path.join(ROOT, 'datasets', 'demo-captions', 'captions.json'));
  const sentences = captions.allCaptions(spec);
  // SentencePiece's view of a sentence: dummy prefix, spaces as U+2581.
  const texts = sentences.map((s) => '\u2581' + s.replace(/ /g, '\u2581'));
  const countOf = (needle) => texts.reduce((n, t) => n + t.split(needle).length - 1, 0);

  const candidates = new Set();
  for (const t of texts) for (const m of t.matchAll(/\u2581[a-z][a-z-]*/gi)) candidates.add(m[0]);
  for (const w of [...spec.classes.zh, ...spec.tones.zh, ...ZH_TEMPLATE_WORDS]) candidates.add(w);
  const chars = new Set('\u2581');
  for (const t of texts) for (const ch of t) chars.add(ch);
  for (let c = 0x21; c < 0x7f; c++) chars.add(String.fromCharCode(c));

  const total = texts.reduce((n, t) => n + [...t].length, 0);
  const pieces = [];
  for (const w of candidates) {
    if ([...w].length < 2) continue;
    const n = countOf(w);
    if (n === 0) throw new Error(`word ${JSON.stringify(w)} occurs in no caption`);
    pieces.push({ piece: w, score: Math.log(n / total) });
  }
  for (const ch of chars) pieces.push({ piece: ch, score: Math.log((countOf(ch) + 1) / total) });
  // Highest score first, as spm_train writes them; ties by piece for a reproducible file.
  pieces.sort((a, b) => b.score - a.score || (a.piece < b.piece ? -1 : a.piece > b.piece ? 1 : 0));

  const outDir = path.join(ROOT, 'datasets', 'demo-spm');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'sentencepiece.bpe.model');
  const { PieceType } = tokenizers;
  const proto = {
    pieces: [
      { piece: '<unk>', score: 0, type: PieceType.UNKNOWN },
      { piece: '<s>', score: 0, type: PieceType.CONTROL },
      { piece: '</s>', score: 0, type: PieceType.CONTROL },
      ...pieces.map((p) => ({ piece: p.piece, score: +p.score.toFixed(4), type: PieceType.NORMAL })),
    ],
    trainerSpec: { ...tokenizers.defaultTrainerSpec(), modelType: 1, vocabSize: pieces.length + 3 },
    // No precompiled charsmap: the captions are already NFKC-clean, so normalisation is the identity.
    normalizerSpec: { ...tokenizers.defaultNormalizerSpec(), name: 'identity' },
  };
  fs.writeFileSync(file, tokenizers.serializeModelProto(proto));
  // Loads it back and writes the Hugging Face folder (tokenizer_config.json, special_tokens_map.json).
  const tok = tokenizers.XLMRobertaTokenizer.fromBytes(fs.readFileSync(file), { modelMaxLength: 77, source: file });
  tok.save(outDir);
  let unk = 0;
  for (const s of sentences) if (tok.encode(s).inputIds[0].includes(3)) unk++;
  console.log(`${file}: ${pieces.length + 3} pieces (${candidates.size} words, ${chars.size} characters); ${sentences.length} captions, ${unk} with <unk>`);
  if (unk) process.exit(1);
}

main();
