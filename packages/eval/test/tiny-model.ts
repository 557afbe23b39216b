import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { openSafetensors, writeSafetensors } from '@altclip/checkpoint';

const WORD_EMB = 'text_model.roberta.embeddings.word_embeddings.weight';

/**
 * A runnable tiny AltCLIP folder for end-to-end tests. The fixture model (altclip-tiny) has a 250-token text
 * vocabulary and ships no tokenizer; the only XLM-R tokenizer fixture (xlmr/spm.model) has 4,002 ids. So the
 * folder gets that tokenizer as sentencepiece.bpe.model and the model's word-embedding table is widened to
 * 4,002 rows: row r >= 250 is a copy of row r % 250 (config vocab_size updated to match). Every other weight is
 * the fixture's own; vision (32 px, no preprocessor_config.json) is untouched. Product code needs no
 * special case (no id clamping).
 */
export async function makeTinyModelDir(dir = tmpDir('altclip-tiny-')): Promise<string> {
  const src = fixture('altclip-tiny');
  const spm = fixture('xlmr', 'spm.model');
  const vocab = JSON.parse(fs.readFileSync(fixture('xlmr', 'cases.json'), 'utf8')).vocab_size as number;
  const config = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
  const oldVocab = config.text_config.vocab_size as number;
  config.text_config.vocab_size = vocab;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  fs.copyFileSync(spm, path.join(dir, 'sentencepiece.bpe.model'));
  const r = await openSafetensors(path.join(src, 'model.safetensors'));
  const tensors = new Map<string, { shape: number[]; data: Float32Array; dtype: 'float32' }>();
  for (const k of r.keys()) {
    const t = await r.read(k);
    let data = t.data as Float32Array;
    let shape = t.shape;
    if (k === WORD_EMB) {
      const h = shape[1];
      const wide = new Float32Array(vocab * h);
      for (let row = 0; row < vocab; row++) wide.set(data.subarray((row % oldVocab) * h, (row % oldVocab + 1) * h), row * h);
      data = wide;
      shape = [vocab, h];
    }
    tensors.set(k, { shape, data, dtype: 'float32' });
  }
  await r.close();
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return dir;
}
