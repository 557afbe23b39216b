/**
 * Every config.json we write must pass transformers 5's strict config validation. The reference is
 * fixtures/hf-config-types.json: the JSON types each field of the HF config classes accepts, generated from
 * transformers 5.18 by scripts/gen-hf-config-types.py.
 */
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { convertToSafetensors } from '@altclip/checkpoint';
import { tmpDir } from '@altclip/test-utils';
import { AltCLIPModel, CLIPModel, CLIPTextModelWithProjection, CLIPTextConfig, CLIPConfig, getModelConfig } from '@altclip/models';

interface ClassTypes {
  class: string;
  fields: Record<string, string[]>;
  sub_configs: Record<string, string>;
}
const TYPES: Record<string, ClassTypes> = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'hf-config-types.json'), 'utf8')).model_types;

type Literal = { kind: 'int' | 'float' | 'str' | 'bool' | 'null' | 'list' | 'dict'; value: unknown };

/** A JSON parser that keeps what JSON.parse loses: whether a number was written as an int or a float literal. */
function parseLiterals(text: string): Literal {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i])) i++;
  };
  const value = (): Literal => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, Literal> = {};
      ws();
      if (text[i] === '}') return i++, { kind: 'dict', value: obj };
      for (;;) {
        const k = value().value as string;
        ws();
        i++; // ':'
        obj[k] = value();
        ws();
        if (text[i++] === '}') return { kind: 'dict', value: obj };
      }
    }
    if (c === '[') {
      i++;
      const arr: Literal[] = [];
      ws();
      if (text[i] === ']') return i++, { kind: 'list', value: arr };
      for (;;) {
        arr.push(value());
        ws();
        if (text[i++] === ']') return { kind: 'list', value: arr };
      }
    }
    const m = /^("(?:[^"\\]|\\.)*"|true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i));
    if (!m) throw new Error(`JSON syntax error at ${i}: ${text.slice(i, i + 20)}`);
    i += m[0].length;
    const tok = m[0];
    if (tok[0] === '"') return { kind: 'str', value: JSON.parse(tok) };
    if (tok === 'true' || tok === 'false') return { kind: 'bool', value: tok === 'true' };
    if (tok === 'null') return { kind: 'null', value: null };
    return { kind: m[2] || m[3] ? 'float' : 'int', value: Number(tok) };
  };
  return value();
}

/** Problems of one config object against the HF class of its model_type; `checked` counts validated fields. */
function validate(lit: Literal, modelType: string, where: string, out: { problems: string[]; checked: string[] }): void {
  const cls = TYPES[modelType];
  if (!cls) throw new Error(`${where}: no HF class for model_type '${modelType}' in the fixture`);
  for (const [k, v] of Object.entries(lit.value as Record<string, Literal>)) {
    const allowed = cls.fields[k];
    if (cls.sub_configs[k] && v.kind === 'dict') {
      const own = (v.value as Record<string, Literal>).model_type;
      validate(v, (own?.value as string) ?? cls.sub_configs[k], `${where}.${k}`, out);
      continue;
    }
    if (!allowed) continue; // transformers keeps undeclared keys without validating them
    out.checked.push(`${where}.${k}`);
    if (!allowed.includes(v.kind)) out.problems.push(`${where}.${k}: ${cls.class} wants ${allowed.join('|')}, the file has ${v.kind} ${JSON.stringify(v.value)}`);
  }
}

function checkConfigFile(file: string): string[] {
  const lit = parseLiterals(fs.readFileSync(file, 'utf8'));
  const type = (lit.value as Record<string, Literal>).model_type.value as string;
  const out = { problems: [] as string[], checked: [] as string[] };
  validate(lit, type, type, out);
  expect(out.checked.length).toBeGreaterThan(10);
  return out.problems;
}

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});
let dir: string;
beforeEach(() => (dir = tmpDir()));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the literal-aware parser tells 1 from 1.0 and finds the transformers 5 failure in a plain JSON.stringify', () => {
  const cfg = getModelConfig('altclip-tiny') as Record<string, any>;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, initializer_factor: 1.0 }, null, 2));
  expect(checkConfigFile(path.join(dir, 'config.json'))).toContain('altclip.initializer_factor: AltCLIPConfig wants float|null, the file has int 1');
  expect(parseLiterals('[1, 1.0, 1e-05, -2]').value).toEqual([
    { kind: 'int', value: 1 }, { kind: 'float', value: 1 }, { kind: 'float', value: 1e-5 }, { kind: 'int', value: -2 },
  ]);
});

test('AltCLIPModel, CLIPModel and CLIPTextModelWithProjection save configs with the field types transformers 5 requires', async () => {
  const altclip = new AltCLIPModel(getModelConfig('altclip-tiny'), { seed: 0 });
  // integral values in every float field, including the ones HF's defaults leave non-integral
  altclip.config.text_config.layer_norm_eps = 1;
  altclip.config.vision_config.initializer_range = 0;
  await altclip.save(path.join(dir, 'altclip'));
  altclip.dispose();
  // clip-demo-tiny with a small vocabulary, so that random init takes milliseconds
  const clipConfig = getModelConfig('clip-demo-tiny') as CLIPConfig;
  clipConfig.text_config.vocab_size = 64;
  const clip = new CLIPModel(clipConfig, { seed: 0 });
  await clip.save(path.join(dir, 'clip'));
  const textOnly = new CLIPTextModelWithProjection(clipConfig.text_config as CLIPTextConfig, { seed: 0 });
  await textOnly.save(path.join(dir, 'clip-text'));
  clip.dispose();
  textOnly.dispose();
  for (const m of ['altclip', 'clip', 'clip-text']) expect({ m, problems: checkConfigFile(path.join(dir, m, 'config.json')) }).toEqual({ m, problems: [] });
  // and the values themselves survive
  const back = JSON.parse(fs.readFileSync(path.join(dir, 'altclip', 'config.json'), 'utf8'));
  expect(back.text_config.layer_norm_eps).toBe(1);
  expect(back.text_config.vocab_size).toBe(250);
});

test('convert rewrites an old config.json (float fields saved as ints) into one transformers 5 loads', async () => {
  const model = new AltCLIPModel(getModelConfig('altclip-tiny'), { seed: 0 });
  await model.save(path.join(dir, 'old'));
  model.dispose();
  const file = path.join(dir, 'old', 'config.json');
  fs.writeFileSync(file, JSON.stringify(JSON.parse(fs.readFileSync(file, 'utf8')), null, 2)); // what save() wrote before the fix
  expect(checkConfigFile(file).length).toBeGreaterThan(0);
  const r = await convertToSafetensors(path.join(dir, 'old'), path.join(dir, 'new'));
  expect(r.copied).toContain('config.json');
  expect(checkConfigFile(path.join(dir, 'new', 'config.json'))).toEqual([]);
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'new', 'config.json'), 'utf8'))).toEqual(JSON.parse(fs.readFileSync(file, 'utf8')));
});
