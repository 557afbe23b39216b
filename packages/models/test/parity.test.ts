/**
 * Forward parity with Hugging Face on fixtures/altclip-tiny (io.safetensors, teacher/io.safetensors): every
 * output tensor present in the files, every hidden state, and the three losses. Tensor names and shapes are
 * read from the fixture files, so a fixture set with other sizes is checked the same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { TensorData } from '@altclip/checkpoint';
import { fixture } from '@altclip/test-utils';
import { AltCLIPModel, CLIPTextModelWithProjection, clipLoss, distillationLoss, robertaPositionIds } from '@altclip/models';
import { BACKENDS, expectClose, fixtureOutput, forwardTol, ids2D, lossTol, readAll, tensorOf } from './helpers';

const DIR = fixture('altclip-tiny');

describe.each(BACKENDS)('AltCLIP forward parity on %s', (backend) => {
  let io: Map<string, TensorData>;
  let model: AltCLIPModel;
  let teacher: CLIPTextModelWithProjection;
  beforeAll(async () => {
    await setupBackend({ backend });
    io = await readAll(`${DIR}/io.safetensors`);
    model = await AltCLIPModel.fromPretrained(DIR);
    teacher = await CLIPTextModelWithProjection.fromPretrained(`${DIR}/teacher`);
  });
  afterAll(() => {
    model?.dispose();
    teacher?.dispose();
  });

  test('every output.* tensor of io.safetensors (embeds, logits, features, all hidden states)', () => {
    const ids = ids2D(io.get('input.input_ids')!);
    const mask = ids2D(io.get('input.attention_mask')!);
    const pixels = tensorOf(io.get('input.pixel_values')!) as tf.Tensor4D;
    const out = model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels, outputHiddenStates: true });
    const textFeatures = model.getTextFeatures(ids, mask);
    const imageFeatures = model.getImageFeatures(pixels);
    const checked: string[] = [];
    const diffs: Record<string, number> = {};
    for (const [name, ref] of io) {
      if (!name.startsWith('output.')) continue;
      const actual = fixtureOutput(name, out, textFeatures, imageFeatures);
      if (!actual) throw new Error(`no model output corresponds to fixture tensor ${name}`);
      diffs[name] = expectClose(name, actual, ref, forwardTol);
      checked.push(name);
    }
    // Hidden-state counts follow the config: embeddings + one per layer.
    expect(out.textModelOutput.hiddenStates!.length).toBe(model.config.text_config.num_hidden_layers + 1);
    expect(out.visionModelOutput.hiddenStates!.length).toBe(model.config.vision_config.num_hidden_layers + 1);
    expect(checked.filter((n) => n.includes('hidden_states')).length).toBe(
      model.config.text_config.num_hidden_layers + model.config.vision_config.num_hidden_layers + 2,
    );
    console.log(`[${backend}] forward max|diff| per tensor:`, JSON.stringify(diffs));
    tf.dispose([ids, mask, pixels, textFeatures, imageFeatures, out as any]);
  });

  test('teacher (CLIPTextModelWithProjection): every output of teacher/io.safetensors', async () => {
    const tio = await readAll(`${DIR}/teacher/io.safetensors`);
    const ids = ids2D(tio.get('input.input_ids')!);
    const mask = ids2D(tio.get('input.attention_mask')!);
    const out = teacher.forward({ inputIds: ids, attentionMask: mask, outputHiddenStates: true });
    let n = 0;
    for (const [name, ref] of tio) {
      if (!name.startsWith('output.')) continue;
      const field = name.slice('output.'.length);
      if (field === 'pooled_index') {
        const { eosPositions } = await import('@altclip/models');
        expect(eosPositions(ids.dataSync() as Int32Array, ids.shape[0], ids.shape[1], teacher.config.eos_token_id)).toEqual(Array.from(ref.data));
        continue;
      }
      const hs = /^hidden_states\.(\d+)$/.exec(field);
      const actual =
        field === 'text_embeds' ? out.textEmbeds : field === 'pooler_output' ? out.pooledOutput : field === 'last_hidden_state' ? out.lastHiddenState : hs ? out.hiddenStates?.[Number(hs[1])] : undefined;
      if (!actual) throw new Error(`no teacher output corresponds to ${name}`);
      expectClose(name, actual, ref, forwardTol);
      n++;
    }
    expect(n).toBeGreaterThanOrEqual(teacher.config.num_hidden_layers + 4);
    tf.dispose([ids, mask, out as any]);
  });

  test('RoBERTa position ids equal the derived input.position_ids', () => {
    const ref = io.get('input.position_ids');
    if (!ref) return; // optional in the fixture format
    const ids = ids2D(io.get('input.input_ids')!);
    const pos = robertaPositionIds(ids, model.config.text_config.pad_token_id);
    expect(Array.from(pos.dataSync())).toEqual(Array.from(ref.data));
    tf.dispose([ids, pos]);
  });

  test('distillation losses A and B, contrastive loss', () => {
    const ids = ids2D(io.get('input.input_ids')!);
    const mask = ids2D(io.get('input.attention_mask')!);
    const pixels = tensorOf(io.get('input.pixel_values')!) as tf.Tensor4D;
    const student = model.textFeaturesForDistillation(ids, mask);
    expectClose('distill.student_feature', student, io.get('distill.student_feature')!, forwardTol);
    const targetA = tensorOf(io.get('distill.target.teacher_text_embeds')!);
    const targetB = tensorOf(io.get('distill.target.teacher_pooler_output')!);
    const lossA = distillationLoss(student, targetA);
    const lossB = distillationLoss(student, targetB);
    expectClose('distill.A.loss', lossA, io.get('distill.A.loss')!, lossTol);
    expectClose('distill.B.loss', lossB, io.get('distill.B.loss')!, lossTol);
    const out = model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels });
    const lossC = clipLoss(out.logitsPerText);
    expectClose('contrastive.loss', lossC, io.get('contrastive.loss')!, lossTol);
    console.log(`[${backend}] losses: A ${lossA.dataSync()[0]} B ${lossB.dataSync()[0]} contrastive ${lossC.dataSync()[0]}`);
    tf.dispose([ids, mask, pixels, student, targetA, targetB, lossA, lossB, lossC, out as any]);
  });

  test('the teacher on teacher/io inputs reproduces the distillation targets A and B', async () => {
    const tio = await readAll(`${DIR}/teacher/io.safetensors`);
    const ids = ids2D(tio.get('input.input_ids')!);
    const mask = ids2D(tio.get('input.attention_mask')!);
    const out = teacher.forward({ inputIds: ids, attentionMask: mask });
    expectClose('distill.target.teacher_text_embeds', out.textEmbeds, io.get('distill.target.teacher_text_embeds')!, forwardTol);
    expectClose('distill.target.teacher_pooler_output', out.pooledOutput, io.get('distill.target.teacher_pooler_output')!, forwardTol);
    tf.dispose([ids, mask, out as any]);
  });

  test('no tensor leaks in a forward pass', () => {
    const ids = ids2D(io.get('input.input_ids')!);
    const mask = ids2D(io.get('input.attention_mask')!);
    const pixels = tensorOf(io.get('input.pixel_values')!) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const out = model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels, outputHiddenStates: true });
    tf.dispose(out as any);
    const f = model.getTextFeatures(ids, mask);
    const g = model.getImageFeatures(pixels);
    tf.dispose([f, g]);
    const t = teacher.forward({ inputIds: [[0, 5, 6, teacher.config.vocab_size - 1]], attentionMask: [[1, 1, 1, 1]] });
    tf.dispose(t as any);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, mask, pixels]);
  });
});
