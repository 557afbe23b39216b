import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { CLIPTokenizer, loadTokenizer, XLMRobertaTokenizer } from '@altclip/tokenizers';

test('loadTokenizer picks XLM-R for a folder with sentencepiece.bpe.model, CLIP for a CLIP config', async () => {
  const dir = tmpDir('load-tok-');
  try {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'clip' }));
    const clip = await loadTokenizer(dir);
    expect(clip).toBeInstanceOf(CLIPTokenizer);
    expect(clip.encode('a dog').inputIds[0].length).toBe(77);
    fs.copyFileSync(fixture('xlmr', 'spm.model'), path.join(dir, 'sentencepiece.bpe.model'));
    const x = await loadTokenizer(dir);
    expect(x).toBeInstanceOf(XLMRobertaTokenizer);
    // both fit the TextTokenizer shape: rectangular ids + masks
    const enc = x.encode(['a dog', 'a dog on the grass']);
    expect(enc.inputIds[0].length).toBe(enc.inputIds[1].length);
    expect(enc.attentionMask[0].filter((m) => m === 0).length).toBeGreaterThan(0);
    await expect(loadTokenizer(path.join(dir, 'missing'))).rejects.toThrow(/not found/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder without tokenizer files says so instead of guessing CLIP', async () => {
  const dir = tmpDir('load-tok-');
  try {
    await expect(loadTokenizer(dir)).rejects.toThrow(/no tokenizer \(looked for sentencepiece\.bpe\.model.*tokenizer\.json/);
    // an AltCLIP model folder (config + weights, no tokenizer): CLIP ids would overflow its vocabulary later
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'altclip' }));
    await expect(loadTokenizer(dir)).rejects.toThrow(/AltCLIP model needs its XLM-R sentencepiece\.bpe\.model or tokenizer\.json.*--tokenizer/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
