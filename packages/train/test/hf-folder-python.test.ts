/**
 * Optional: a model folder as every run writes it (saveModelFolder: final/, checkpoints) loads whole in
 * transformers: AutoTokenizer and AutoProcessor, with our ids. An AltCLIP folder (the tiny fixture model with the
 * demo's tokenizer) and a CLIP folder (the demo's teacher architecture with the CLIP BPE). Runs where a python
 * with transformers and Pillow exists (ALTCLIP_TRANSFORMERS_PYTHON, else /opt/torch2/bin/python or python3);
 * skipped with a message otherwise.
 */
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { AltCLIPModel, CLIPModel, getModelConfig } from '@altclip/models';
import { findPython, fixture, hfLoad, HfLoadResult, REPO_ROOT, tmpDir } from '@altclip/test-utils';
import { CLIPTokenizer, TextTokenizer, XLMRobertaTokenizer } from '@altclip/tokenizers';
import { resolveImageProcessor, saveModelFolder, textMaxLength } from '../src';

const python = findPython('ALTCLIP_TRANSFORMERS_PYTHON', ['transformers', 'PIL'], 'hf-folder-python.test');
const maybe = python ? describe : describe.skip;

// the last is longer than both models' text length: transformers must truncate where we do
const TEXTS = ['a photo of a dog', '一只狗的照片', 'A photo of a T-shirt, seen from the front!', '', 'a dog and a cat '.repeat(20)];

maybe('transformers loads a saved model folder whole', () => {
  let root: string;
  const got = new Map<string, HfLoadResult>();
  const ours = new Map<string, number[][]>();

  beforeAll(async () => {
    await setupBackend({ backend: 'cpu' });
    root = tmpDir('hf-folder-py-');
    const folders: Array<[string, AltCLIPModel | CLIPModel, TextTokenizer]> = [
      ['altclip', await AltCLIPModel.fromPretrained(fixture('altclip-tiny')), await XLMRobertaTokenizer.fromPretrained(path.join(REPO_ROOT, 'datasets', 'demo-spm'))],
      ['clip', new CLIPModel(getModelConfig('clip-demo-tiny'), { seed: 1 }), await CLIPTokenizer.load()],
    ];
    for (const [name, model, tok] of folders) {
      const dir = path.join(root, name);
      await saveModelFolder(dir, model, tok, resolveImageProcessor(model));
      const len = textMaxLength(model);
      const enc = tok.encode(TEXTS, tok instanceof CLIPTokenizer ? { truncate: true, contextLength: len } : { maxLength: len, padding: false });
      // content ids only: clip.tokenize pads with 0, transformers with <|endoftext|>
      ours.set(name, enc.inputIds.map((row, i) => row.filter((_, k) => enc.attentionMask[i][k] === 1)));
    }
    const r = hfLoad(python!, ['altclip', 'clip'].map((name) => ({ dir: path.join(root, name), texts: TEXTS, processor: true, image_size: 32 })));
    for (const f of r.folders) got.set(path.basename(f.dir), f);
  }, 300_000);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('AltCLIP: AltCLIPProcessor with an XLM-R tokenizer giving our ids, pixels at the model size', () => {
    const r = got.get('altclip')!;
    expect([r.tokenizer, r.processor, r.processor_tokenizer]).toEqual(['XLMRobertaTokenizer', 'AltCLIPProcessor', 'XLMRobertaTokenizer']);
    expect(r.model_max_length).toBe(38); // max_position_embeddings 40 less the 2 XLM-R position offsets
    expect(r.ids).toEqual(ours.get('altclip'));
    expect(r.pixel_values_shape).toEqual([1, 3, 32, 32]);
    // the processor pads to the longest with <pad> = 1, as our encode does
    expect(r.processor_ids![0].filter((id) => id !== 1)).toEqual(ours.get('altclip')![0]);
  });

  test('CLIP: CLIPProcessor with a 49,408-token CLIP tokenizer giving our ids', () => {
    const r = got.get('clip')!;
    expect([r.tokenizer, r.vocab_size, r.processor, r.processor_tokenizer]).toEqual(['CLIPTokenizer', 49408, 'CLIPProcessor', 'CLIPTokenizer']);
    expect(r.model_max_length).toBe(32);
    expect(r.ids).toEqual(ours.get('clip'));
    expect(r.pixel_values_shape).toEqual([1, 3, 28, 28]); // clip-demo-tiny's image_size
  });
});
