/** Model configs are checked when read (issue 24, item 9): errors name the file, the field and the value. */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { fixture, tmpDir } from '@altclip/test-utils';
import { AltCLIPModel, CLIPModel, getModelConfig, CONFIG_LIMITS } from '@altclip/models';

let dir: string;
beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
  dir = tmpDir('altclip-config-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const tiny = () => JSON.parse(fs.readFileSync(fixture('altclip-tiny', 'config.json'), 'utf8'));

/** The tiny fixture's folder with its config.json edited by `edit`; returns the config file. */
function tinyWith(name: string, edit: (c: any) => void): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  fs.copyFileSync(fixture('altclip-tiny', 'model.safetensors'), path.join(d, 'model.safetensors'));
  const c = tiny();
  edit(c);
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(c));
  return path.join(d, 'config.json');
}

test('absurd sizes are refused before anything is allocated, naming the file, field and value', async () => {
  const file = tinyWith('layers', (c) => (c.text_config.num_hidden_layers = 1e9));
  const before = tf.memory().numTensors;
  const t0 = Date.now();
  await expect(AltCLIPModel.fromPretrained(path.dirname(file))).rejects.toThrow(
    new Error(`${file}: text_config.num_hidden_layers must be an integer in [1, ${CONFIG_LIMITS.layers}], got 1000000000`),
  );
  expect(Date.now() - t0).toBeLessThan(2000); // used to run out of JS heap after ~28 s
  expect(tf.memory().numTensors).toBe(before);
});

test('sizes each within bounds but together too large: one tensor beyond a Node array, or too many parameters', async () => {
  const vocab = tinyWith('vocab', (c) => Object.assign(c.text_config, { vocab_size: 2 ** 24, hidden_size: 65536, num_attention_heads: 64, project_dim: 32 }));
  await expect(AltCLIPModel.fromPretrained(path.dirname(vocab))).rejects.toThrow(
    new RegExp(`^${vocab}: tensor 'text_model\\.roberta\\.embeddings\\.word_embeddings\\.weight' \\[16777216, 65536\\] would take 4096\\.0 GiB, more than the largest array Node can allocate`),
  );
  const total = tinyWith('total', (c) => Object.assign(c.vision_config, { num_hidden_layers: 512, hidden_size: 8192, intermediate_size: 32768, num_attention_heads: 64 }));
  await expect(AltCLIPModel.fromPretrained(path.dirname(total))).rejects.toThrow(
    new RegExp(`^${total}: 4\\.\\d\\de\\+11 parameters is more than the limit of 6\\.87e\\+10 \\(256 GiB in f32\\)$`),
  );
});

test('heads that do not divide the hidden size, a patch that does not divide the image, a negative token id', async () => {
  const heads = tinyWith('heads', (c) => (c.vision_config.num_attention_heads = 5));
  await expect(AltCLIPModel.fromPretrained(path.dirname(heads))).rejects.toThrow(new Error(`${heads}: vision_config.num_attention_heads 5 does not divide vision_config.hidden_size 32`));
  const patch = tinyWith('patch', (c) => (c.vision_config.patch_size = 7));
  await expect(AltCLIPModel.fromPretrained(path.dirname(patch))).rejects.toThrow(new Error(`${patch}: vision_config.patch_size 7 does not divide vision_config.image_size 32`));
  const eos = tinyWith('eos', (c) => (c.text_config.eos_token_id = -2));
  await expect(AltCLIPModel.fromPretrained(path.dirname(eos))).rejects.toThrow(new Error(`${eos}: text_config.eos_token_id must be an integer >= 0, got -2`));
});

test('wrong types and values: one line per problem', async () => {
  const file = tinyWith('types', (c) => {
    c.text_config.layer_norm_eps = 'x';
    c.vision_config.hidden_act = 'swish';
    c.vision_config.attention_dropout = 1.5;
    c.logit_scale_init_value = null; // null is "use the default", as HF does
    c.projection_dim = 16.5;
  });
  await expect(AltCLIPModel.fromPretrained(path.dirname(file))).rejects.toThrow(
    new Error(
      [
        `${file}: projection_dim must be an integer in [1, ${CONFIG_LIMITS.hidden}], got 16.5`,
        `${file}: text_config.layer_norm_eps must be a number in (0, 1), got "x"`,
        `${file}: vision_config.hidden_act is not supported (supported: gelu, quick_gelu, relu, gelu_new), got "swish"`,
        `${file}: vision_config.attention_dropout must be a number in [0, 1), got 1.5`,
      ].join('\n'),
    ),
  );
  const sub = tinyWith('sub', (c) => (c.vision_config = 5));
  await expect(AltCLIPModel.fromPretrained(path.dirname(sub))).rejects.toThrow(new Error(`${sub}: vision_config must be an object, got 5`));
});

test('named configs (configs/models, ALTCLIP_CONFIGS) and config objects are checked too', () => {
  const d = path.join(dir, 'named');
  fs.mkdirSync(d);
  const c = tiny();
  c.text_config.num_attention_heads = 3;
  fs.writeFileSync(path.join(d, 'bad.json'), JSON.stringify(c));
  process.env.ALTCLIP_CONFIGS = d;
  try {
    expect(() => getModelConfig('bad')).toThrow(new Error(`${path.join(d, 'bad.json')}: text_config.num_attention_heads 3 does not divide text_config.hidden_size 32`));
  } finally {
    delete process.env.ALTCLIP_CONFIGS;
  }
  expect(() => new CLIPModel({ text_config: { hidden_size: 64, num_attention_heads: 4, num_hidden_layers: -1 } })).toThrow(
    new Error(`model config: text_config.num_hidden_layers must be an integer in [1, ${CONFIG_LIMITS.layers}], got -1`),
  );
  // The shipped configs all pass.
  for (const n of ['altclip-tiny', 'altclip-small', 'altclip-large', 'clip-demo-tiny']) expect(getModelConfig(n).model_type).toMatch(/clip/);
});
