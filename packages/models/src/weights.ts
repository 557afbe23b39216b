/**
 * Loading and saving: HF state-dict names are our parameter names, so loading is a rename plus shape checks.
 * Tolerated on load: `encoder.layer.N` and `encoder.layers.N` (either tower), legacy LayerNorm `gamma`/`beta`,
 * and the buffers/extras HF ignores (`*.position_ids`, `*.token_type_ids`, RoBERTa `pooler.*`).
 * Any other difference is ONE error listing every missing key, unexpected key and shape difference.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as checkpoint from '@altclip/checkpoint';
import { halfParams, safetensorsDtype, widen } from './half';
import type { CheckpointReader } from '@altclip/checkpoint';
import { ParamSpec } from './specs';
import { altclipConfig, altclipTextConfig, clipConfig, clipTextConfig, clipVisionConfig, xlmRobertaConfig } from './config';

export class WeightsMismatchError extends Error {
  constructor(
    readonly source: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly shapeDiffs: string[],
  ) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing keys (${missing.length}):\n  ${missing.join('\n  ')}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}):\n  ${unexpected.join('\n  ')}`);
    if (shapeDiffs.length) parts.push(`shape differences (${shapeDiffs.length}):\n  ${shapeDiffs.join('\n  ')}`);
    super(`${source}: checkpoint does not match the model\n${parts.join('\n')}`);
    this.name = 'WeightsMismatchError';
  }
}

/**
 * A model folder named by the user: a local folder as is, or a Hugging Face hub id ("org/name", "org/name@rev")
 * fetched (config + weights, or `parts`) into the HF cache; its snapshot folder is returned.
 */
export async function resolveModelDir(spec: string, hub: checkpoint.SnapshotOptions = {}): Promise<string> {
  const dir = await checkpoint.resolvePretrained(spec, { parts: ['config', 'weights'], ...hub });
  const parent = checkpoint.localParent(spec);
  if (!fs.existsSync(dir) && parent) throw new Error(`${spec}: no such folder (${parent}/ exists here, so this is a local path, not a Hugging Face hub id)`);
  if (!fs.existsSync(dir)) throw new Error(`${spec}: no such model folder, and not a Hugging Face hub id (org/name)`);
  return dir;
}

/** Reads `<dir>/config.json` (or the file itself) with a clear error. */
export function readConfigJson(dirOrFile: string): Record<string, unknown> {
  const file = fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isDirectory() ? path.join(dirOrFile, 'config.json') : dirOrFile;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message;
    throw new Error(`${file}: cannot read model config (${why})`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`, { cause: e });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: a model config must be a JSON object`);
  validateByType(raw as Record<string, unknown>, file);
  return raw as Record<string, unknown>;
}

/** Configs of the model types we build are checked on read, so errors name the file (see config-validate.ts). */
function validateByType(raw: Record<string, unknown>, file: string): void {
  const t = raw.model_type;
  if (t === 'altclip') altclipConfig(raw, file);
  else if (t === 'clip') clipConfig(raw, file);
  else if (t === 'xlm-roberta') xlmRobertaConfig(raw, file);
  else if (t === 'altclip_text_model') altclipTextConfig(raw, file);
  else if (t === 'clip_text_model') clipTextConfig(raw, file);
  else if (t === 'clip_vision_model' || t === 'altclip_vision_model') clipVisionConfig(raw, t, file);
}

/** Opens the weights of a model folder: model.safetensors, pytorch_model.bin or a sharded index. */
export async function openModelCheckpoint(dir: string): Promise<CheckpointReader> {
  return checkpoint.openCheckpoint(dir);
}

/** Canonical form used to match checkpoint keys against model keys. */
function canonical(key: string): string {
  return key.replace(/(^|\.)encoder\.layers\./, '$1encoder.layer.').replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias');
}

/** Keys HF itself drops on load. */
export function isIgnoredKey(key: string): boolean {
  return /(^|\.)(position_ids|token_type_ids)$/.test(key) || /(^|\.)roberta\.pooler\./.test(key) || /^pooler\./.test(key);
}

// Moved to @altclip/checkpoint (convert refuses NaN/Inf too); re-exported so the setting stays one process-wide flag.
export { setAllowNonFiniteWeights, allowNonFiniteWeights, countNonFinite, assertFiniteWeights } from '@altclip/checkpoint';

export interface LoadPlan {
  /** model key -> checkpoint key */
  sources: Map<string, string>;
  missing: string[];
  unexpected: string[];
  shapeDiffs: string[];
}

/**
 * Matches checkpoint keys to `specs`. `rename` maps a checkpoint key to a model key (null = ignore it).
 * Specs for which `optional(name)` is true may be absent (they are then left to the caller).
 */
export function planLoad(
  reader: CheckpointReader,
  specs: ParamSpec[],
  rename: (key: string) => string | null = (k) => k,
  optional: (name: string) => boolean = () => false,
): LoadPlan {
  const byCanon = new Map(specs.map((s) => [canonical(s.name), s]));
  const sources = new Map<string, string>();
  const unexpected: string[] = [];
  const shapeDiffs: string[] = [];
  for (const key of reader.keys()) {
    if (isIgnoredKey(key)) continue;
    const target = rename(key);
    if (target === null || isIgnoredKey(target)) continue;
    const spec = byCanon.get(canonical(target));
    if (!spec) {
      unexpected.push(key);
      continue;
    }
    if (sources.has(spec.name)) {
      unexpected.push(`${key} (duplicate of ${sources.get(spec.name)})`);
      continue;
    }
    const info = reader.info(key);
    const n = (s: number[]) => s.reduce((a, d) => a * d, 1);
    const scalarOk = spec.shape.length === 0 && n(info.shape) === 1;
    if (!scalarOk && (info.shape.length !== spec.shape.length || info.shape.some((d, i) => d !== spec.shape[i]))) {
      shapeDiffs.push(`${key}: checkpoint [${info.shape}] vs model [${spec.shape}]`);
      sources.set(spec.name, key);
      continue;
    }
    if (!/^(F64|F32|F16|BF16)$/.test(info.dtype)) {
      shapeDiffs.push(`${key}: dtype ${info.dtype} (a float tensor is expected)`);
      continue;
    }
    sources.set(spec.name, key);
  }
  const missing = specs.filter((s) => !sources.has(s.name) && !optional(s.name)).map((s) => s.name);
  return { sources, missing, unexpected, shapeDiffs };
}

export function assertPlan(plan: LoadPlan, source: string): void {
  if (plan.missing.length || plan.unexpected.length || plan.shapeDiffs.length)
    throw new WeightsMismatchError(source, plan.missing, plan.unexpected, plan.shapeDiffs);
}

/**
 * Reads the planned tensors one at a time. Each becomes a tf.Variable, except names in `host`, which are
 * returned as Float32Arrays (kept out of the backend heap).
 */
export async function readPlanned(
  reader: CheckpointReader,
  plan: LoadPlan,
  specs: ParamSpec[],
  opts: { trainable?: boolean; host?: Set<string>; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ vars: Map<string, tf.Variable>; host: Map<string, Float32Array> }> {
  const vars = new Map<string, tf.Variable>();
  const host = new Map<string, Float32Array>();
  const todo = specs.filter((s) => plan.sources.has(s.name));
  let done = 0;
  try {
    for (const spec of todo) {
      const key = plan.sources.get(spec.name)!;
      const td = await reader.read(key);
      const data = td.data as Float32Array;
      checkpoint.assertFiniteWeights(data, key, reader.path);
      if (opts.host?.has(spec.name)) host.set(spec.name, data);
      else {
        const t = tf.tensor(data, spec.shape, 'float32');
        vars.set(spec.name, tf.variable(t, opts.trainable ?? true));
        t.dispose();
      }
      opts.onProgress?.(++done, todo.length);
    }
  } catch (e) {
    for (const v of vars.values()) v.dispose();
    throw e;
  }
  return { vars, host };
}

/**
 * Writes `<dir>/config.json` and `<dir>/model.safetensors` (atomically) with the parameters in spec order.
 * `host` holds parameters kept outside the backend (embeddingsOnHost).
 */
export async function saveModelDir(
  dir: string,
  config: Record<string, unknown>,
  specs: ParamSpec[],
  params: Map<string, tf.Tensor>,
  host: Map<string, Float32Array> = new Map(),
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  // Lazy entries: each tensor is downloaded from the backend only when the writer reaches it.
  const tensors = new Map<string, { shape: number[]; dtype: 'F32' | 'BF16' | 'F16'; load: () => Promise<Float32Array> }>();
  const half = halfParams(params);
  for (const s of specs) {
    const h = host.get(s.name);
    const v = params.get(s.name);
    const hp = half?.get(s.name);
    if (hp) {
      // written in the dtype it is held in (as torch saves a bf16 module); the f32 values encode back exactly
      tensors.set(s.name, { shape: s.shape, dtype: safetensorsDtype(hp), load: async () => widen(s.name, hp) });
      continue;
    }
    if (!h && !v) throw new Error(`save: parameter '${s.name}' is missing from the model`);
    tensors.set(s.name, { shape: s.shape, dtype: 'F32', load: async () => h ?? ((await v!.data()) as Float32Array) });
  }
  await checkpoint.writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  await checkpoint.atomicWriteFile(path.join(dir, 'config.json'), [Buffer.from(checkpoint.stringifyHfConfig(config))]);
}
