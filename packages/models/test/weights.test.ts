/**
 * Loading and saving: pytorch_model.bin == model.safetensors, save() -> fromPretrained round trip (exact HF key
 * set, identical outputs), tolerated key variants, one error listing every mismatch, CLIP/teacher loading,
 * AltCLIPModel.fromParts (stage-1 student from a CLIP folder + an xlm-roberta folder), embeddingsOnHost.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { openSafetensors, TensorData, writeSafetensors } from '@altclip/checkpoint';
import { fixture, tmpDir } from '@altclip/test-utils';
import {
  AltCLIPModel,
  CLIPModel,
  CLIPTextModelWithProjection,
  loadClipLikeModel,
  WeightsMismatchError,
} from '@altclip/models';
import { ids2D, readAll, tensorOf } from './helpers';

const DIR = fixture('altclip-tiny');
const tmps: string[] = [];
function tmp(): string {
  const d = tmpDir('altclip-models-');
  tmps.push(d);
  return d;
}

async function paramsOf(m: { namedParameters(): Map<string, tf.Variable> }): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of m.namedParameters()) out.set(k, (await v.data()) as Float32Array);
  return out;
}

function expectSameParams(a: Map<string, Float32Array>, b: Map<string, Float32Array>, keys?: string[]) {
  for (const k of keys ?? [...a.keys()]) {
    if (!b.has(k)) throw new Error(`missing ${k}`);
    expect({ k, equal: Buffer.compare(Buffer.from(a.get(k)!.buffer), Buffer.from(b.get(k)!.buffer)) === 0 }).toEqual({ k, equal: true });
  }
}

/** Writes a copy of the fixture state dict after `edit` (a Map of name -> tensor) into a new model folder. */
async function writeVariant(edit: (sd: Map<string, TensorData & { dtype?: any }>) => void, config = path.join(DIR, 'config.json')): Promise<string> {
  const sd = (await readAll(path.join(DIR, 'model.safetensors'))) as Map<string, any>;
  edit(sd);
  const dir = tmp();
  await writeSafetensors(path.join(dir, 'model.safetensors'), sd as any);
  fs.copyFileSync(config, path.join(dir, 'config.json'));
  return dir;
}

let io: Map<string, TensorData>;
let ref: AltCLIPModel;
let refParams: Map<string, Float32Array>;

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
  io = await readAll(path.join(DIR, 'io.safetensors'));
  ref = await AltCLIPModel.fromPretrained(DIR);
  refParams = await paramsOf(ref);
});
afterAll(() => {
  ref?.dispose();
  for (const d of tmps) fs.rmSync(d, { recursive: true, force: true });
});

function embeds(m: AltCLIPModel): Float32Array[] {
  const ids = ids2D(io.get('input.input_ids')!);
  const mask = ids2D(io.get('input.attention_mask')!);
  const px = tensorOf(io.get('input.pixel_values')!) as tf.Tensor4D;
  const t = m.getTextFeatures(ids, mask);
  const i = m.getImageFeatures(px);
  const out = [t.dataSync() as Float32Array, i.dataSync() as Float32Array];
  tf.dispose([ids, mask, px, t, i]);
  return out;
}

test('the key set is exactly the HF state dict of the fixture (names and shapes)', async () => {
  const r = await openSafetensors(path.join(DIR, 'model.safetensors'));
  const fileKeys = r.keys().sort();
  expect([...ref.namedParameters().keys()].sort()).toEqual(fileKeys);
  for (const [k, v] of ref.namedParameters()) expect({ k, shape: v.shape }).toEqual({ k, shape: r.info(k).shape });
  await r.close();
});

test('loading pytorch_model.bin gives the same parameters as model.safetensors', async () => {
  const dir = tmp();
  fs.copyFileSync(path.join(DIR, 'config.json'), path.join(dir, 'config.json'));
  fs.copyFileSync(path.join(DIR, 'pytorch_model.bin'), path.join(dir, 'pytorch_model.bin'));
  const m = await AltCLIPModel.fromPretrained(dir);
  expectSameParams(refParams, await paramsOf(m));
  expect(m.namedParameters().size).toBe(refParams.size);
  m.dispose();
});

test('save() -> fromPretrained() round trip: exact HF key set, identical parameters and outputs', async () => {
  const dir = tmp();
  await ref.save(dir);
  const written = await openSafetensors(path.join(dir, 'model.safetensors'));
  const orig = await openSafetensors(path.join(DIR, 'model.safetensors'));
  expect(written.keys().sort()).toEqual(orig.keys().sort());
  for (const k of orig.keys()) expect({ k, info: written.info(k) }).toEqual({ k, info: orig.info(k) });
  await written.close();
  await orig.close();
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  expect(cfg.model_type).toBe('altclip');
  expect(cfg.text_config.hidden_size).toBe(ref.config.text_config.hidden_size);
  const m = await AltCLIPModel.fromPretrained(dir);
  expectSameParams(refParams, await paramsOf(m));
  const [a, b] = [embeds(ref), embeds(m)];
  expect(Buffer.from(a[0].buffer).equals(Buffer.from(b[0].buffer))).toBe(true);
  expect(Buffer.from(a[1].buffer).equals(Buffer.from(b[1].buffer))).toBe(true);
  m.dispose();
});

test('tolerated variants: encoder.layers/layer in both towers, gamma/beta, position_ids/token_type_ids buffers, roberta pooler', async () => {
  const dir = await writeVariant((sd) => {
    for (const k of [...sd.keys()]) {
      let n = k.replace('roberta.encoder.layer.', 'roberta.encoder.layers.').replace('vision_model.encoder.layers.', 'vision_model.encoder.layer.');
      n = n.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
      if (n !== k) {
        sd.set(n, sd.get(k)!);
        sd.delete(k);
      }
    }
    const H = ref.config.text_config.hidden_size;
    sd.set('text_model.roberta.embeddings.position_ids', { shape: [1, 5], data: new Int32Array([0, 1, 2, 3, 4]), dtype: 'I64' } as any);
    sd.set('text_model.roberta.embeddings.token_type_ids', { shape: [1, 5], data: new Int32Array(5), dtype: 'I64' } as any);
    sd.set('vision_model.embeddings.position_ids', { shape: [1, 3], data: new Int32Array([0, 1, 2]), dtype: 'I64' } as any);
    sd.set('text_model.roberta.pooler.dense.weight', { shape: [H, H], data: new Float32Array(H * H), dtype: 'float32' });
    sd.set('text_model.roberta.pooler.dense.bias', { shape: [H], data: new Float32Array(H), dtype: 'float32' });
  });
  const m = await AltCLIPModel.fromPretrained(dir);
  expectSameParams(refParams, await paramsOf(m));
  m.dispose();
});

test('a mismatching checkpoint is ONE error listing every missing key, unexpected key and shape difference', async () => {
  const dir = await writeVariant((sd) => {
    sd.delete('text_model.pre_LN.weight');
    sd.delete('vision_model.post_layernorm.bias');
    sd.set('text_model.extra_head.weight', { shape: [2], data: new Float32Array(2), dtype: 'float32' });
    const t = sd.get('text_projection.weight')!;
    sd.set('text_projection.weight', { ...t, shape: [t.shape[0] + 1, t.shape[1]], data: new Float32Array((t.shape[0] + 1) * t.shape[1]) });
  });
  let err: unknown;
  try {
    await AltCLIPModel.fromPretrained(dir);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(WeightsMismatchError);
  const e = err as WeightsMismatchError;
  expect(e.missing.sort()).toEqual(['text_model.pre_LN.weight', 'vision_model.post_layernorm.bias']);
  expect(e.unexpected).toEqual(['text_model.extra_head.weight']);
  expect(e.shapeDiffs).toHaveLength(1);
  for (const s of ['text_model.pre_LN.weight', 'vision_model.post_layernorm.bias', 'text_model.extra_head.weight', 'text_projection.weight'])
    expect(e.message).toContain(s);
  expect(e.message).toContain(dir);
});

test('embeddingsOnHost: same outputs, word table kept out of the backend, still saved', async () => {
  const m = await AltCLIPModel.fromPretrained(DIR, { embeddingsOnHost: true });
  expect(m.namedParameters().has('text_model.roberta.embeddings.word_embeddings.weight')).toBe(false);
  const [a, b] = [embeds(ref), embeds(m)];
  expect(Array.from(b[0])).toEqual(Array.from(a[0]));
  const dir = tmp();
  await m.save(dir);
  const r = await openSafetensors(path.join(dir, 'model.safetensors'));
  const w = await r.read('text_model.roberta.embeddings.word_embeddings.weight');
  expect(Buffer.from((w.data as Float32Array).buffer).equals(Buffer.from(refParams.get('text_model.roberta.embeddings.word_embeddings.weight')!.buffer))).toBe(true);
  await r.close();
  m.dispose();
});

/** A CLIPModel whose text tower is the fixture teacher's (text_projection included) and a small random ViT. */
async function clipFolderFromTeacher(): Promise<{ dir: string; clip: CLIPModel }> {
  const teacherCfg = JSON.parse(fs.readFileSync(path.join(DIR, 'teacher', 'config.json'), 'utf8'));
  const clip = new CLIPModel(
    {
      projection_dim: teacherCfg.projection_dim,
      text_config: teacherCfg,
      vision_config: { ...ref.config.vision_config, model_type: 'clip_vision_model' },
    },
    { seed: 7 },
  );
  const teacherSd = await readAll(path.join(DIR, 'teacher', 'model.safetensors'));
  for (const [k, v] of clip.namedParameters()) if (teacherSd.has(k)) v.assign(tensorOf(teacherSd.get(k)!));
  const dir = tmp();
  await clip.save(dir);
  return { dir, clip };
}

test('CLIPModel save/load round trip, loadClipLikeModel, and the teacher loads from a full CLIPModel folder', async () => {
  const { dir, clip } = await clipFolderFromTeacher();
  const loaded = await loadClipLikeModel(dir);
  expect(loaded).toBeInstanceOf(CLIPModel);
  expectSameParams(await paramsOf(clip), await paramsOf(loaded));
  const teacher = await CLIPTextModelWithProjection.fromPretrained(dir);
  const fromTeacherDir = await CLIPTextModelWithProjection.fromPretrained(path.join(DIR, 'teacher'));
  expectSameParams(await paramsOf(fromTeacherDir), await paramsOf(teacher));
  const V = teacher.config.vocab_size; // CLIP-style ids: bos = V-2, eos = V-1 (the largest id), zero padding
  const ids = [[V - 2, 5, 9, V - 1, 0]];
  const mask = [[1, 1, 1, 1, 0]];
  const a = teacher.forward({ inputIds: ids, attentionMask: mask }).textEmbeds;
  const b = clip.getTextFeatures(ids, mask);
  expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
  tf.dispose([a, b]);
  const alt = await loadClipLikeModel(DIR);
  expect(alt).toBeInstanceOf(AltCLIPModel);
  alt.dispose();
  for (const m of [clip, loaded, teacher, fromTeacherDir]) m.dispose();
});

test('fromParts: text tower from an xlm-roberta folder (roberta.* or unprefixed keys), vision + logit_scale from CLIP, text_projection from the teacher', async () => {
  const { dir: clipDir, clip } = await clipFolderFromTeacher();
  const clipParams = await paramsOf(clip);
  const textCfg = { ...ref.config.text_config, model_type: 'xlm-roberta', architectures: ['XLMRobertaForMaskedLM'] };
  delete (textCfg as any).project_dim;
  for (const prefix of ['roberta.', '']) {
    const xdir = tmp();
    const sd = new Map<string, any>();
    for (const [k, v] of refParams) {
      if (!k.startsWith('text_model.roberta.')) continue;
      sd.set(prefix + k.slice('text_model.roberta.'.length), { shape: ref.namedParameters().get(k)!.shape, data: v });
    }
    sd.set('lm_head.bias', { shape: [3], data: new Float32Array(3) });
    sd.set(`${prefix}pooler.dense.bias`, { shape: [3], data: new Float32Array(3) });
    await writeSafetensors(path.join(xdir, 'model.safetensors'), sd);
    fs.writeFileSync(path.join(xdir, 'config.json'), JSON.stringify(textCfg));
    const m = await AltCLIPModel.fromParts({ vision: clipDir, text: xdir, seed: 3 });
    const p = await paramsOf(m);
    expect(m.config.text_config.project_dim).toBe(clip.config.text_config.hidden_size);
    expectSameParams(refParams, p, [...refParams.keys()].filter((k) => k.startsWith('text_model.roberta.')));
    expectSameParams(clipParams, p, [...clipParams.keys()].filter((k) => k.startsWith('vision_model.') || k === 'visual_projection.weight' || k === 'logit_scale' || k === 'text_projection.weight'));
    // pre_LN starts as the identity LayerNorm; transformation is freshly initialised.
    expect(Array.from(p.get('text_model.pre_LN.weight')!).every((x) => x === 1)).toBe(true);
    expect(p.get('text_model.transformation.weight')!.some((x) => x !== 0)).toBe(true);
    m.dispose();
  }
  // scratch text tower from a config object; text_projection from a CLIPTextModelWithProjection folder
  const s = await AltCLIPModel.fromParts({ vision: clipDir, text: { ...textCfg }, textProjection: path.join(DIR, 'teacher'), seed: 1 });
  expect(s.namedParameters().size).toBe(refParams.size);
  const teacherSd = await readAll(path.join(DIR, 'teacher', 'model.safetensors'));
  expect(Array.from(s.namedParameters().get('text_projection.weight')!.dataSync())).toEqual(Array.from(teacherSd.get('text_projection.weight')!.data));
  s.dispose();
  clip.dispose();
});
