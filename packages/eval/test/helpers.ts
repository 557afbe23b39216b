import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import { fixture } from '@altclip/test-utils';
import { openSafetensors } from '@altclip/checkpoint';
import { setupBackend } from '@altclip/backend';

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

/** The default backend (wasm here): the tfjs cpu backend runs the vision tower ~100x slower. */
export async function testBackend(): Promise<void> {
  await setupBackend({ backend: (process.env.ALTCLIP_BACKEND as any) ?? 'auto' });
}

export function rows(data: Float32Array, r: number, c: number): Float32Array[] {
  return Array.from({ length: r }, (_, i) => data.slice(i * c, (i + 1) * c));
}

export { tf };
