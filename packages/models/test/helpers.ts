/** Test helpers: read fixture tensors, compare with the README tolerances. */
import * as tf from '@tensorflow/tfjs-core';
import { openSafetensors, TensorData } from '@altclip/checkpoint';
import { maxAbs, maxAbsDiff, tensorflowIfAvailable } from '@altclip/test-utils';
import { loadAddon } from '@altclip/native';
import type { ModelOutput } from '@altclip/models';
import { MASK_MIN } from '../src/ops';

export async function readAll(file: string): Promise<Map<string, TensorData>> {
  const r = await openSafetensors(file);
  const out = new Map<string, TensorData>();
  try {
    for (const k of r.keys()) out.set(k, await r.read(k));
  } finally {
    await r.close();
  }
  return out;
}

export function tensorOf(t: TensorData): tf.Tensor {
  return tf.tensor(t.data as any, t.shape, t.dtype === 'uint8' ? 'int32' : t.dtype);
}

export function ids2D(t: TensorData): tf.Tensor2D {
  return tf.tensor2d(t.data as Int32Array, t.shape as [number, number], 'int32');
}

/** Asserts max|a - b| <= tol (shapes equal) and returns the difference. */
export function expectClose(name: string, actual: tf.Tensor, ref: TensorData, tol: (refMax: number) => number): number {
  const refShape = ref.shape.length === 1 && ref.shape[0] === 1 && actual.rank === 0 ? [] : ref.shape;
  expect({ name, shape: actual.shape }).toEqual({ name, shape: refShape });
  const a = actual.dataSync();
  const d = maxAbsDiff(a, ref.data);
  const limit = tol(maxAbs(ref.data));
  if (!(d <= limit)) throw new Error(`${name}: max|diff| ${d.toExponential(3)} > tolerance ${limit.toExponential(3)}`);
  return d;
}

export const forwardTol = (m: number) => 1e-4 * Math.max(1, m);
export const lossTol = (m: number) => 1e-5 * Math.max(1, m);
export const gradTol = (m: number) => 1e-3 * m + 1e-7;
export const isKeyBias = (name: string) => /attention\.self\.key\.bias$|self_attn\.k_proj\.bias$/.test(name);

/**
 * Backends the parity suites run on: cpu (tfjs's reference), wasm, `native` (tensors in native memory) where
 * @altclip/native is built, and `tensorflow` (tfjs-node's TensorFlow kernels) where it is installed or built by
 * `npm run setup:tensorflow`; a missing one is skipped with a note saying how to enable it.
 */
const nativeBuilt = loadAddon();
if (!nativeBuilt.addon) console.log(`models parity: the 'native' backend is not tested (${nativeBuilt.why})`);
export const BACKENDS: Array<'cpu' | 'wasm' | 'native' | 'tensorflow'> = [
  ...(['cpu', 'wasm'] as const),
  ...(nativeBuilt.addon ? (['native'] as const) : []),
  ...tensorflowIfAvailable('models parity'),
];

/**
 * The model output that fixture tensor `name` (io.safetensors' output.*) holds: the embeds, logits and features,
 * or a tower's last_hidden_state / pooler_output / hidden_states.N; undefined for an unknown name.
 */
export function fixtureOutput(name: string, out: ModelOutput, textFeatures: tf.Tensor, imageFeatures: tf.Tensor): tf.Tensor | undefined {
  const direct: Record<string, tf.Tensor> = {
    'output.text_embeds': out.textEmbeds,
    'output.image_embeds': out.imageEmbeds,
    'output.logits_per_text': out.logitsPerText,
    'output.logits_per_image': out.logitsPerImage,
    'output.text_embeds_unnormalized': textFeatures,
    'output.image_embeds_unnormalized': imageFeatures,
  };
  const m = /^output\.(text_model|vision_model)\.(.+)$/.exec(name);
  if (!m) return direct[name];
  const tower = m[1] === 'text_model' ? out.textModelOutput : out.visionModelOutput;
  const h = /^hidden_states\.(\d+)$/.exec(m[2]);
  if (h) return tower.hiddenStates?.[Number(h[1])];
  if (m[2] === 'last_hidden_state') return tower.lastHiddenState;
  if (m[2] === 'pooler_output') return tower.poolerOutput;
  return undefined;
}

/** Runs f with Math.random replaced by a seeded Park-Miller generator (dropout draws repeat). */
export function withRandom<T>(seed: number, f: () => T): T {
  const orig = Math.random;
  let s = seed;
  Math.random = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  try {
    return f();
  } finally {
    Math.random = orig;
  }
}

/** [B, L] {0,1} mask with row b keeping its first lens[b] tokens, as the additive [B, 1, 1, L] bias. */
export function padBias(lens: number[], L: number): tf.Tensor {
  const m = new Float32Array(lens.length * L);
  lens.forEach((n, b) => {
    for (let j = n; j < L; j++) m[b * L + j] = MASK_MIN;
  });
  return tf.tensor4d(m, [lens.length, 1, 1, L]);
}
