import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import { fixture, tensorflowIfAvailable } from '@altclip/test-utils';
import { openSafetensors } from '@altclip/checkpoint';
import { setupBackend, BackendName } from '@altclip/backend';
import { loadAddon } from '@altclip/native';

export const METRICS_EXPECTED = JSON.parse(fs.readFileSync(fixture('metrics', 'metrics_expected.json'), 'utf8'));

/** All tensors of metrics_inputs.safetensors, by key. */
export async function metricInputs(): Promise<Map<string, { shape: number[]; data: Float32Array | Int32Array }>> {
  const r = await openSafetensors(fixture('metrics', 'metrics_inputs.safetensors'));
  const out = new Map();
  for (const k of r.keys()) {
    const t = await r.read(k);
    out.set(k, { shape: t.shape, data: t.data });
  }
  await r.close();
  return out;
}

/**
 * The backends the evaluation tests run on: ALTCLIP_BACKEND if set, else native where the addon is built, else wasm
 * (the tfjs cpu backend runs the vision tower ~100x slower); and tensorflow (tfjs-node) where it is installed.
 */
const base = (process.env.ALTCLIP_BACKEND as BackendName | 'auto' | undefined) ?? (loadAddon().addon ? 'native' : 'wasm');
export const EVAL_BACKENDS: Array<BackendName | 'auto'> = [...new Set([base, ...tensorflowIfAvailable('evaluation')])];

export async function testBackend(backend: BackendName | 'auto'): Promise<void> {
  await setupBackend({ backend });
}

export function rows(data: Float32Array, r: number, c: number): Float32Array[] {
  return Array.from({ length: r }, (_, i) => data.slice(i * c, (i + 1) * c));
}

export { tf };
