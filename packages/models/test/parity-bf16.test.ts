/**
 * Forward parity with Hugging Face (fixtures/altclip-tiny, float32 PyTorch outputs) in amp_bf16, on the `native`
 * backend (vdpbf16ps where this CPU has it, else the emulated tile, which computes the same values).
 *
 * Tolerances from bf16's rounding. Rounding a float32 to bf16 (8 significant bits, nearest even) moves it by at
 * most u = 2^-8 relative, so a product of two rounded operands is off by at most 2u + u^2 < 2^-7 relative, and a matmul
 * output by at most 2^-7 sum_k |a_k b_k| (float32 accumulation adds ~K 2^-24, negligible). LayerNorm rescales
 * absolute errors with the activations, softmax turns an absolute error in a score into the same relative error of
 * a probability, so along a chain of D bf16 matmuls the first-order errors add: a tensor D matmuls deep is allowed
 * D * 2^-7 * max(1, max|ref|) (max|ref| for sum_k |a_k b_k|: the activations here are LayerNorm-scaled, O(1)).
 * D counts the bf16 matmuls on the longest path to the tensor: per encoder layer 5 (v projection, P V, output
 * projection, fc1, fc2; q/k's path, QK^T then softmax, is as long), the patch embedding 1, the text
 * transformation 1, each projection 1; the logits add both towers' errors (their own matmul is float32). A tensor
 * before any matmul (the text embeddings, hidden_states.0) must match as in float32. The observed errors are printed:
 * they sit well under the bound (errors of independent roundings mostly cancel), while a wrong product (a missing
 * bias, a transposed operand, unrounded inputs where rounded ones are saved) misses by O(1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { TensorData } from '@altclip/checkpoint';
import { nativeStatus, setNativeBf16Emulation } from '@altclip/native';
import { fixture } from '@altclip/test-utils';
import { AltCLIPModel, getPrecision } from '@altclip/models';
import { expectClose, fixtureOutput, forwardTol, ids2D, readAll, tensorOf } from './helpers';

const DIR = fixture('altclip-tiny');
const status = nativeStatus();
const describeNative = status.available ? describe : describe.skip;
if (!status.available) test.skip(`native addon not available, amp_bf16 parity skipped: ${status.why}`, () => undefined);

const PER_MATMUL = 2 ** -7;
const PER_LAYER = 5;

/** bf16 matmuls on the longest path to fixture tensor `name` (L text and vision layers). */
export function bf16Depth(name: string, L: { text: number; vision: number }): number {
  const text = PER_LAYER * L.text + 1; // + transformation
  const image = 1 + PER_LAYER * L.vision; // patch embedding +
  const hidden = /^output\.(text_model|vision_model)\.hidden_states\.(\d+)$/.exec(name);
  if (hidden) return hidden[1] === 'text_model' ? PER_LAYER * Number(hidden[2]) : 1 + PER_LAYER * Number(hidden[2]);
  if (/^output\.text_model\./.test(name)) return text;
  if (/^output\.vision_model\./.test(name)) return image;
  if (/text_embeds/.test(name)) return text + 1;
  if (/image_embeds/.test(name)) return image + 1;
  if (/logits/.test(name)) return text + 1 + image + 1;
  throw new Error(`no bf16 depth for fixture tensor ${name}`);
}

describeNative('AltCLIP forward parity in amp_bf16 (native)', () => {
  let io: Map<string, TensorData>;
  let model: AltCLIPModel;
  beforeAll(async () => {
    await setupBackend({ backend: 'native' });
    if (!status.bf16?.native) setNativeBf16Emulation(true);
    io = await readAll(`${DIR}/io.safetensors`);
    model = await AltCLIPModel.fromPretrained(DIR);
  });
  afterAll(() => {
    model?.dispose();
    setNativeBf16Emulation(false);
  });

  test('every output.* tensor within D * 2^-7 * max(1, max|ref|), D = bf16 matmuls on its path', () => {
    const amp = getPrecision('amp_bf16');
    expect(amp.support().compute).toBe('bf16');
    const ids = ids2D(io.get('input.input_ids')!);
    const mask = ids2D(io.get('input.attention_mask')!);
    const pixels = tensorOf(io.get('input.pixel_values')!) as tf.Tensor4D;
    const L = { text: model.config.text_config.num_hidden_layers, vision: model.config.vision_config.num_hidden_layers };
    const { out, textFeatures, imageFeatures } = amp.autocast(() => ({
      out: model.forward({ inputIds: ids, attentionMask: mask, pixelValues: pixels, outputHiddenStates: true }),
      textFeatures: model.getTextFeatures(ids, mask),
      imageFeatures: model.getImageFeatures(pixels),
    }));
    const report: Record<string, string> = {};
    let bf16Seen = false;
    for (const [name, ref] of io) {
      if (!name.startsWith('output.')) continue;
      const actual = fixtureOutput(name, out, textFeatures, imageFeatures);
      if (!actual) throw new Error(`no model output corresponds to fixture tensor ${name}`);
      const D = bf16Depth(name, L);
      const tol = D === 0 ? forwardTol : (refMax: number) => D * PER_MATMUL * Math.max(1, refMax);
      const d = expectClose(name, actual, ref, tol);
      const refMax = Math.max(...Array.from(ref.data as Float32Array, Math.abs));
      report[name] = `D=${D} diff ${d.toExponential(2)} = ${(d / tol(refMax)).toFixed(3)} of the bound`;
      if (D > 0 && d > 1e-4 * Math.max(1, refMax)) bf16Seen = true;
    }
    // The products really were bf16: some tensor moved beyond float32's parity tolerance.
    expect(bf16Seen).toBe(true);
    console.log('[native amp_bf16] forward error per tensor:', JSON.stringify(report, null, 1));
    tf.dispose([ids, mask, pixels, textFeatures, imageFeatures, out as unknown as tf.TensorContainer]);
  });
});
