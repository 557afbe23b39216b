/**
 * The Hugging Face tokenizer files every saved folder carries (tokenizer.json for XLM-R; vocab.json, merges.txt
 * and tokenizer.json for CLIP), and loading a folder that has only tokenizer.json. transformers' own reading of
 * these files is checked in transformers-python.test.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fixture, REPO_ROOT, tmpDir } from '@altclip/test-utils';
import { addHfTokenizerFiles, CLIPTokenizer, DEFAULT_CLIP_VOCAB, loadTokenizer, writeSentencePieceModel, XLMRobertaTokenizer } from '@altclip/tokenizers';

const xlmr = JSON.parse(fs.readFileSync(fixture('xlmr', 'cases.json'), 'utf8'));
const xlmrCases: Array<{ name: string; text: string; input_ids: number[]; max_length_16: { input_ids: number[] } }> = xlmr.cases;
const clip = JSON.parse(fs.readFileSync(fixture('clip_bpe', 'cases.json'), 'utf8'));
const clipCases: Array<{ name: string; text: string; ids: number[]; context_77: number[] }> = clip.cases;
const DEMO_SPM = path.join(REPO_ROOT, 'datasets', 'demo-spm');

let dir: string;
beforeEach(() => (dir = tmpDir('hf-files-')));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const readJson = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
const unlink = (...files: string[]) => files.forEach((f) => fs.rmSync(path.join(dir, f)));

describe('XLM-R', () => {
  test('save writes tokenizer.json, which alone gives the fixture ids (transformers 4.57 slow tokenizer)', async () => {
    (await XLMRobertaTokenizer.fromFile(fixture('xlmr', 'spm.model'))).save(dir);
    expect(fs.readdirSync(dir).sort()).toEqual(['sentencepiece.bpe.model', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    const cfg = readJson('tokenizer_config.json');
    expect([cfg.tokenizer_class, cfg.model_max_length]).toEqual(['XLMRobertaTokenizer', 512]);
    expect(cfg.added_tokens_decoder[String(xlmr.special_ids['<mask>'])]).toMatchObject({ content: '<mask>', lstrip: true });
    unlink('sentencepiece.bpe.model');
    const tok = await loadTokenizer(dir);
    expect(tok).toBeInstanceOf(XLMRobertaTokenizer);
    expect(tok.vocabSize).toBe(xlmr.vocab_size);
    for (const c of xlmrCases) {
      expect([c.name, tok.encode(c.text, { truncation: false, padding: false }).inputIds[0]]).toEqual([c.name, c.input_ids]);
      expect([c.name, tok.encode(c.text, { maxLength: 16, padding: 'max_length' }).inputIds[0]]).toEqual([c.name, c.max_length_16.input_ids]);
    }
    // saving a tokenizer read from tokenizer.json writes a SentencePiece model that gives the same ids
    const again = path.join(dir, 'again');
    (tok as XLMRobertaTokenizer).save(again);
    const fromSpm = await XLMRobertaTokenizer.fromFile(path.join(again, 'sentencepiece.bpe.model'));
    for (const c of xlmrCases) expect([c.name, fromSpm.encode(c.text, { truncation: false, padding: false }).inputIds[0]]).toEqual([c.name, c.input_ids]);
  });

  test("the demo's tokenizer (identity normaliser) reads back from tokenizer.json with the same ids", async () => {
    const spm = await XLMRobertaTokenizer.fromPretrained(DEMO_SPM);
    spm.save(dir);
    unlink('sentencepiece.bpe.model');
    const json = await XLMRobertaTokenizer.fromPretrained(dir);
    const texts = xlmrCases.map((c) => c.text);
    expect(json.encode(texts, { padding: false, truncation: false })).toEqual(spm.encode(texts, { padding: false, truncation: false }));
  });

  test('a SentencePiece model whose first pieces are not <unk> <s> </s> gets no tokenizer.json, with a warning', () => {
    const bytes = writeSentencePieceModel({
      pieces: [{ piece: '<s>', score: 0, type: 'CONTROL' }, { piece: '</s>', score: 0, type: 'CONTROL' }, { piece: '<unk>', score: 0, type: 'UNKNOWN' }, { piece: '\u2581a', score: -1 }],
    });
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"stale": true}');
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      XLMRobertaTokenizer.fromBytes(bytes).save(dir);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/no tokenizer\.json written.*transformers >= 5.*not <unk>, <s>, <\/s>/);
    } finally {
      warn.mockRestore();
    }
    expect(fs.existsSync(path.join(dir, 'tokenizer.json'))).toBe(false);
  });

  test('a tokenizer.json that is not an XLM-R Unigram model is refused, naming the file', async () => {
    const file = path.join(dir, 'tokenizer.json');
    fs.writeFileSync(file, JSON.stringify({ model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['a', -1]] } }));
    await expect(loadTokenizer(dir)).rejects.toThrow(`${file}: not an XLM-R tokenizer (the vocabulary starts`);
    fs.writeFileSync(file, JSON.stringify({ model: { type: 'WordPiece', vocab: {} } }));
    await expect(loadTokenizer(dir)).rejects.toThrow(`${file}: a WordPiece tokenizer; only XLM-R (Unigram) and CLIP (BPE)`);
    fs.writeFileSync(file, '{"version": "1.0"}');
    await expect(loadTokenizer(dir)).rejects.toThrow(`${file}: not a tokenizers file`);
  });
});

describe('CLIP', () => {
  const check = (tok: CLIPTokenizer) => {
    for (const c of clipCases) expect([c.name, tok.encode(c.text, { truncate: true }).inputIds[0]]).toEqual([c.name, c.context_77]);
  };

  test('save writes vocab.json, merges.txt and tokenizer.json; each way of reading them gives the fixture ids', async () => {
    (await CLIPTokenizer.load()).save(dir, { modelMaxLength: 32 });
    expect(fs.readdirSync(dir).sort()).toEqual(['merges.txt', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json']);
    const vocab = readJson('vocab.json');
    expect(Object.keys(vocab).length).toBe(clip.vocab_size);
    expect([vocab['<|startoftext|>'], vocab['<|endoftext|>']]).toEqual([clip.sot, clip.eot]);
    // openai's merges file has the same merges, one per line, after its own version line
    const merges = fs.readFileSync(path.join(dir, 'merges.txt'), 'utf8').split('\n');
    expect(merges[0]).toBe('#version: 0.2');
    expect(merges.length - 2).toBe(49152 - 256 - 2);
    expect(readJson('tokenizer_config.json')).toMatchObject({ tokenizer_class: 'CLIPTokenizer', pad_token: '<|endoftext|>', model_max_length: 32 });
    check(await CLIPTokenizer.fromPretrained(dir));

    unlink('vocab.json', 'merges.txt');
    const fromJson = await loadTokenizer(dir);
    expect(fromJson).toBeInstanceOf(CLIPTokenizer);
    check(fromJson as CLIPTokenizer);

    // tokenizers < 0.20 wrote merges as "a b" strings
    const json = readJson('tokenizer.json');
    json.model.merges = json.model.merges.map((m: string[]) => m.join(' '));
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
    check((await loadTokenizer(dir)) as CLIPTokenizer);

    delete json.model.vocab['a</w>'];
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
    await expect(loadTokenizer(dir)).rejects.toThrow(`${path.join(dir, 'tokenizer.json')}: ${clip.vocab_size - 1} vocabulary entries, but the merges imply ${clip.vocab_size}`);
  });
});

describe('addHfTokenizerFiles (folders saved before these files were written)', () => {
  test('XLM-R: sentencepiece.bpe.model + tokenizer_config.json gains tokenizer.json and keeps model_max_length', async () => {
    fs.copyFileSync(fixture('xlmr', 'spm.model'), path.join(dir, 'sentencepiece.bpe.model'));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 38 }));
    expect(await addHfTokenizerFiles(dir)).toEqual(['special_tokens_map.json', 'tokenizer.json']);
    expect(readJson('tokenizer_config.json').model_max_length).toBe(38);
    expect(await addHfTokenizerFiles(dir)).toEqual([]);
    unlink('sentencepiece.bpe.model');
    const tok = await loadTokenizer(dir);
    for (const c of xlmrCases.slice(0, 20)) expect(tok.encode(c.text, { truncation: false, padding: false }).inputIds[0]).toEqual(c.input_ids);
  });

  test('CLIP: the openai .gz alone gains vocab.json, merges.txt, tokenizer.json; an empty folder stays empty', async () => {
    expect(await addHfTokenizerFiles(dir)).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.copyFileSync(DEFAULT_CLIP_VOCAB, path.join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
    expect(await addHfTokenizerFiles(dir)).toEqual(['merges.txt', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json']);
    unlink('bpe_simple_vocab_16e6.txt.gz', 'vocab.json', 'merges.txt');
    const tok = (await loadTokenizer(dir)) as CLIPTokenizer;
    for (const c of clipCases.slice(0, 20)) expect(tok.encode(c.text, { truncate: true }).inputIds[0]).toEqual(c.context_77);
  });
});
