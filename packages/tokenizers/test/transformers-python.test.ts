/**
 * Optional: transformers (>= 5 reads only tokenizer.json) loads the tokenizer files we save with AutoTokenizer and
 * gives our ids. Runs where a python with transformers exists (ALTCLIP_TRANSFORMERS_PYTHON, else
 * /opt/torch2/bin/python or python3); skipped with a message otherwise.
 */
import * as fs from 'fs';
import * as path from 'path';
import { findPython, fixture, hfLoad, HfLoadResult, REPO_ROOT, tmpDir } from '@altclip/test-utils';
import { CLIPTokenizer, XLMRobertaTokenizer } from '@altclip/tokenizers';

const python = findPython('ALTCLIP_TRANSFORMERS_PYTHON', ['transformers'], 'transformers-python.test');
const maybe = python ? describe : describe.skip;

const xlmrCases: Array<{ name: string; text: string; input_ids: number[] }> = JSON.parse(fs.readFileSync(fixture('xlmr', 'cases.json'), 'utf8')).cases;
type ClipCase = { name: string; text: string; basic_clean: string; ids: number[] };
const clipCases: ClipCase[] = JSON.parse(fs.readFileSync(fixture('clip_bpe', 'cases.json'), 'utf8')).cases;
const PY_STRIP = /^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/g;

maybe('transformers loads our tokenizer folders with our ids', () => {
  let root: string;
  let got: Map<string, HfLoadResult>;
  let version: string;
  const dirs = { xlmr: '', demo: '', clip: '' };
  const ours = { demo: [] as number[][] };

  beforeAll(async () => {
    root = tmpDir('hf-tok-py-');
    for (const k of Object.keys(dirs) as Array<keyof typeof dirs>) dirs[k] = path.join(root, k);
    (await XLMRobertaTokenizer.fromFile(fixture('xlmr', 'spm.model'))).save(dirs.xlmr, { modelMaxLength: 77 });
    const demo = await XLMRobertaTokenizer.fromPretrained(path.join(REPO_ROOT, 'datasets', 'demo-spm'));
    demo.save(dirs.demo, { modelMaxLength: 77 });
    ours.demo = demo.encode(xlmrCases.map((c) => c.text), { maxLength: 77, padding: false }).inputIds;
    (await CLIPTokenizer.load()).save(dirs.clip, { modelMaxLength: 77 });
    const r = hfLoad(python!, [
      { dir: dirs.xlmr, texts: xlmrCases.map((c) => c.text), xlmr_converter: true },
      { dir: dirs.demo, texts: xlmrCases.map((c) => c.text), xlmr_converter: true },
      // openai cleans with ftfy + html.unescape before tokenising, transformers does not: give it both texts
      { dir: dirs.clip, texts: [...clipCases.map((c) => c.text), ...clipCases.map((c) => c.basic_clean)] },
    ]);
    version = r.transformers;
    got = new Map(r.folders.map((f) => [f.dir, f]));
  }, 300_000);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('XLM-R (the fixture model): every case gives the ids of transformers 4.57 slow tokenizer', () => {
    const r = got.get(dirs.xlmr)!;
    expect([version, r.tokenizer, r.vocab_size]).toEqual([version, 'XLMRobertaTokenizer', 4002]);
    // the fixture ids are untruncated; at 77 transformers keeps the first 75 content ids
    const at77 = (ids: number[]) => (ids.length > 77 ? [...ids.slice(0, 76), 2] : ids);
    xlmrCases.forEach((c, i) => expect([c.name, r.ids[i]]).toEqual([c.name, at77(c.input_ids)]));
  });

  test("XLM-R tokenizer.json: normaliser, pre-tokenizer, post-processor, decoder and model as transformers' converter builds them", () => {
    for (const dir of [dirs.xlmr, dirs.demo]) {
      const conv = got.get(dir)!.converter;
      if (!conv) return console.warn('transformers-python.test: converter comparison skipped (no protobuf)');
      const ours = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
      for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model']) expect([dir, k, ours[k]]).toEqual([dir, k, conv[k]]);
    }
  });

  // transformers 5's XLMRobertaTokenizer keeps only the charsmap of tokenizer.json's normaliser and always splits
  // words at Unicode whitespace (and at '▁'). Under an NFKC charsmap (XLM-R's, the fixture's) that is what
  // SentencePiece does too; under the demo's identity normaliser SentencePiece splits only at ' ' and reads a tab,
  // newline, NBSP or U+3000 as an unknown character, so texts holding one get other ids there.
  const SPLITS_IN_HF_ONLY = /[\t\n\v\f\r\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u2581]/;

  test("XLM-R (the demo's tokenizer, identity normaliser): our ids on every text without whitespace other than ' '", () => {
    const r = got.get(dirs.demo)!;
    expect(r.tokenizer).toBe('XLMRobertaTokenizer');
    const differ: string[] = [];
    xlmrCases.forEach((c, i) => {
      if (!SPLITS_IN_HF_ONLY.test(c.text)) expect([c.name, r.ids[i]]).toEqual([c.name, ours.demo[i]]);
      else if (JSON.stringify(r.ids[i]) !== JSON.stringify(ours.demo[i])) differ.push(c.name);
    });
    expect(differ.length).toBeLessThan(xlmrCases.length / 10);
  });

  test("CLIP: ids equal openai's on every text that basic_clean leaves alone, and on every cleaned text", () => {
    const r = got.get(dirs.clip)!;
    expect([r.tokenizer, r.vocab_size]).toEqual(['CLIPTokenizer', 49408]);
    const n = clipCases.length;
    const want = (c: ClipCase) => (c.ids.length > 75 ? [49406, ...c.ids.slice(0, 75), 49407] : [49406, ...c.ids, 49407]);
    let cleanedDiffer = 0;
    clipCases.forEach((c, i) => {
      expect([c.name, r.ids[n + i]]).toEqual([c.name, want(c)]);
      if (c.basic_clean === c.text.replace(PY_STRIP, '')) expect([c.name, r.ids[i]]).toEqual([c.name, want(c)]);
      else cleanedDiffer++;
    });
    // the fixture has ftfy / HTML-entity cases: the second assertion above must not have covered everything
    expect(cleanedDiffer).toBeGreaterThan(0);
  });
});
