/** CLIP text transformer (the stage-1 teacher, HF CLIPTextModelWithProjection) and the full HF CLIPModel. */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { clipConfig, CLIPConfig, CLIPTextConfig, clipTextConfig } from './config';
import { clipEncoder } from './clip-encoder';
import { DualEncoder, ModelOutput } from './clip-like';
import { InitOptions, randomVariables } from './init';
import { tidy, asInt2D, causalBias, checkTokenIds, layerNorm, linear, MASK_MIN, param, Params, RunOptions } from './ops';
import { clipSpecs, clipTextWithProjectionSpecs, ParamSpec } from './specs';
import type { TowerOptions } from './vision';
import type { SnapshotOptions } from '@altclip/checkpoint';
import { assertPlan, openModelCheckpoint, planLoad, readConfigJson, readPlanned, resolveModelDir, saveModelDir } from './weights';

/**
 * Index of the pooled (EOS) token per row. eos_token_id == 2 (legacy configs, e.g. openai/clip-vit-large-patch14):
 * argmax of the ids (EOT 49407 is the largest id; first occurrence). Otherwise the first position whose id is
 * eos_token_id (0 if none, as torch's argmax of an all-false row).
 */
export function eosPositions(ids: Int32Array, B: number, L: number, eosTokenId: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = ids.subarray(b * L, (b + 1) * L);
    let idx = 0;
    if (eosTokenId === 2) {
      for (let j = 1; j < L; j++) if (row[j] > row[idx]) idx = j;
    } else {
      const j = row.indexOf(eosTokenId);
      idx = j < 0 ? 0 : j;
    }
    out.push(idx);
  }
  return out;
}

/**
 * HF CLIPTextTransformer: token + position embeddings, pre-LN encoder with causal (+ padding) mask,
 * final_layer_norm; pooled = last[b, eos_b]. hiddenStates[0] = embeddings, then every layer (before the final LN).
 */
export function clipTextForward(
  params: Params,
  c: CLIPTextConfig,
  ids: tf.Tensor2D,
  mask: tf.Tensor2D | undefined,
  opts: TowerOptions = {},
): ModelOutput {
  const [B, L] = ids.shape;
  const H = c.hidden_size;
  if (L > c.max_position_embeddings) throw new Error(`text length ${L} exceeds max_position_embeddings ${c.max_position_embeddings}`);
  checkTokenIds(ids, c.vocab_size, 'input_ids');
  const tok = tf.gather(param(params, 'text_model.embeddings.token_embedding.weight'), ids);
  const pos = tf.slice(param(params, 'text_model.embeddings.position_embedding.weight'), [0, 0], [L, H]);
  const x = tf.add(tok, pos) as tf.Tensor3D;
  let bias: tf.Tensor = causalBias(L); // [1, 1, L, L]
  if (mask) {
    // HF sums the two masks (doubly masked entries become -inf); the minimum gives the same softmax.
    const pad = tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, 'float32')), MASK_MIN), [B, 1, 1, L]);
    bias = tf.minimum(bias, pad);
  }
  const layers = clipEncoder(params, 'text_model.', c, x, bias, opts);
  const encOut = layers.length ? layers[layers.length - 1] : x;
  const last = layerNorm(encOut, param(params, 'text_model.final_layer_norm.weight'), param(params, 'text_model.final_layer_norm.bias'), c.layer_norm_eps) as tf.Tensor3D;
  const eos = eosPositions(ids.dataSync() as Int32Array, B, L, c.eos_token_id);
  const flatIdx = tf.tensor1d(eos.map((j, b) => b * L + j), 'int32');
  const pooled = tf.gather(tf.reshape(last, [B * L, H]), flatIdx) as tf.Tensor2D;
  return { lastHiddenState: last, poolerOutput: pooled, hiddenStates: opts.outputHiddenStates ? [x, ...layers] : undefined };
}

export interface TeacherOutput {
  textEmbeds: tf.Tensor2D;
  pooledOutput: tf.Tensor2D;
  lastHiddenState: tf.Tensor3D;
  hiddenStates?: tf.Tensor3D[];
}

export interface ClipLoadOptions {
  /** Variables trainable? Default: false for the teacher, true for CLIPModel. */
  trainable?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Hub id downloads: revision, offline, cache folder, token (default: the HF_* environment). */
  hub?: SnapshotOptions;
}

function ownVars(specs: ParamSpec[], vars: Map<string, tf.Variable>, what: string) {
  const missing = specs.filter((s) => !vars.has(s.name)).map((s) => s.name);
  if (missing.length) throw new Error(`${what}: missing parameters: ${missing.join(', ')}`);
}

/** HF CLIPTextModelWithProjection: the frozen stage-1 teacher. */
export class CLIPTextModelWithProjection {
  readonly config: CLIPTextConfig;
  readonly specs: ParamSpec[];
  private params: Map<string, tf.Variable>;

  constructor(config: CLIPTextConfig | Record<string, unknown>, opts: InitOptions & { trainable?: boolean } = {}, vars?: Map<string, tf.Variable>) {
    this.config = clipTextConfig(config as Record<string, unknown>);
    this.specs = clipTextWithProjectionSpecs(this.config);
    this.params = vars ?? randomVariables(this.specs, opts);
    ownVars(this.specs, this.params, 'CLIPTextModelWithProjection');
    if (!vars && opts.trainable === false) for (const v of this.params.values()) v.trainable = false;
  }

  /**
   * Loads a CLIPTextModelWithProjection folder (model_type clip_text_model) or a full CLIPModel folder
   * (model_type clip: text_config + top-level projection_dim; vision keys are ignored).
   */
  static async fromPretrained(spec: string, opts: ClipLoadOptions = {}): Promise<CLIPTextModelWithProjection> {
    const dir = await resolveModelDir(spec, opts.hub);
    const raw = readConfigJson(dir);
    let cfg: CLIPTextConfig;
    let full = false;
    if (raw.model_type === 'clip') {
      const top = clipConfig(raw);
      cfg = clipTextConfig({ ...top.text_config, projection_dim: top.projection_dim });
      full = true;
    } else if (raw.model_type === undefined || raw.model_type === 'clip_text_model') cfg = clipTextConfig(raw);
    else throw new Error(`${path.join(dir, 'config.json')}: model_type '${raw.model_type}' is not a CLIP text model or CLIPModel`);
    const specs = clipTextWithProjectionSpecs(cfg);
    const reader = await openModelCheckpoint(dir);
    try {
      const ignore = (k: string) => full && (k.startsWith('vision_model.') || k === 'visual_projection.weight' || k === 'logit_scale');
      const plan = planLoad(reader, specs, (k) => (ignore(k) ? null : k));
      assertPlan(plan, reader.path);
      const { vars } = await readPlanned(reader, plan, specs, { trainable: opts.trainable ?? false, onProgress: opts.onProgress });
      return new CLIPTextModelWithProjection(cfg, {}, vars);
    } finally {
      await reader.close();
    }
  }

  namedParameters(): Map<string, tf.Variable> {
    return new Map(this.params);
  }

  /** -> textEmbeds = text_projection(pooled) (not normalised), pooledOutput (final LN at EOS), lastHiddenState. */
  forward(inputs: { inputIds: tf.Tensor2D | number[][]; attentionMask?: tf.Tensor2D | number[][]; outputHiddenStates?: boolean; training?: boolean }): TeacherOutput {
    return tidy(() => {
      const ids = asInt2D(inputs.inputIds, 'input_ids');
      const mask = inputs.attentionMask === undefined ? undefined : asInt2D(inputs.attentionMask, 'attention_mask');
      const out = clipTextForward(this.params, this.config, ids, mask, { outputHiddenStates: inputs.outputHiddenStates, training: inputs.training });
      const textEmbeds = linear(out.poolerOutput, param(this.params, 'text_projection.weight')) as tf.Tensor2D;
      return { textEmbeds, pooledOutput: out.poolerOutput, lastHiddenState: out.lastHiddenState, hiddenStates: out.hiddenStates };
    });
  }

  async save(dir: string): Promise<void> {
    await saveModelDir(dir, { ...this.config, architectures: ['CLIPTextModelWithProjection'], model_type: 'clip_text_model' }, this.specs, this.params);
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}

/** HF CLIPModel: CLIP text transformer + ViT + projections + logit_scale (the demo's stand-in teacher). */
export class CLIPModel extends DualEncoder<CLIPConfig> {
  readonly config: CLIPConfig;
  readonly specs: ParamSpec[];
  protected params: Map<string, tf.Variable>;

  constructor(config: CLIPConfig | Record<string, unknown>, opts: InitOptions & { trainable?: boolean } = {}, vars?: Map<string, tf.Variable>) {
    super();
    this.config = clipConfig(config as Record<string, unknown>);
    this.specs = clipSpecs(this.config);
    this.params = vars ?? randomVariables(this.specs, opts);
    ownVars(this.specs, this.params, 'CLIPModel');
    if (!vars && opts.trainable === false) for (const v of this.params.values()) v.trainable = false;
  }

  static async fromPretrained(spec: string, opts: ClipLoadOptions = {}): Promise<CLIPModel> {
    const dir = await resolveModelDir(spec, opts.hub);
    const raw = readConfigJson(dir);
    if (raw.model_type !== undefined && raw.model_type !== 'clip')
      throw new Error(`${path.join(dir, 'config.json')}: model_type is '${raw.model_type}', expected 'clip'`);
    const cfg = clipConfig(raw);
    const specs = clipSpecs(cfg);
    const reader = await openModelCheckpoint(dir);
    try {
      const plan = planLoad(reader, specs);
      assertPlan(plan, reader.path);
      const { vars } = await readPlanned(reader, plan, specs, { trainable: opts.trainable ?? true, onProgress: opts.onProgress });
      return new CLIPModel(cfg, {}, vars);
    } finally {
      await reader.close();
    }
  }

  textModel(inputIds: tf.Tensor2D | number[][], attentionMask: tf.Tensor2D | number[][] | undefined, opts: TowerOptions = {}): ModelOutput {
    return tidy(() => {
      const ids = asInt2D(inputIds, 'input_ids');
      const mask = attentionMask === undefined ? undefined : asInt2D(attentionMask, 'attention_mask');
      return clipTextForward(this.params, this.config.text_config, ids, mask, { ...opts, gradCheckpointing: this.gradientCheckpointing });
    });
  }

  protected pooledText(inputIds: tf.Tensor2D | number[][], attentionMask: tf.Tensor2D | number[][], opts: RunOptions): tf.Tensor2D {
    return this.textModel(inputIds, attentionMask, { training: opts.training }).poolerOutput as tf.Tensor2D;
  }
}
