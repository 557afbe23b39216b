/** AltCLIPModel (HF modeling_altclip): XLM-R text tower + head, CLIP ViT, projections, logit_scale. */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { AltCLIPConfig, altclipConfig, clipConfig, clipTextConfig, xlmRobertaConfig } from './config';
import { DualEncoder, ModelOutput } from './clip-like';
import { initialValues, InitOptions, randomVariables } from './init';
import { tidy, asInt2D, layerNorm, linear, param, Params, RunOptions } from './ops';
import { altclipSpecs, ParamSpec } from './specs';
import type { TowerOptions } from './vision';
import type { SnapshotOptions } from '@altclip/checkpoint';
import { assertPlan, LoadPlan, openModelCheckpoint, planLoad, readConfigJson, readPlanned, resolveModelDir } from './weights';
import { xlmrForward } from './xlmr';

const WORD_EMB = 'text_model.roberta.embeddings.word_embeddings.weight';

export interface AltCLIPOptions extends InitOptions {
  /**
   * Keep the word-embedding table (250002 x 1024 for altclip-large) as a host Float32Array and gather rows in
   * JS, uploading only [B, L, H]. For inference on backends with a small heap (wasm); that table then gets no
   * gradient and is not in namedParameters().
   */
  embeddingsOnHost?: boolean;
  /** Variables are created trainable (default true). */
  trainable?: boolean;
}

export interface LoadOptions {
  embeddingsOnHost?: boolean;
  trainable?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Hub id downloads: revision, offline, cache folder, token (default: the HF_* environment). */
  hub?: SnapshotOptions;
}

export class AltCLIPModel extends DualEncoder<AltCLIPConfig> {
  readonly config: AltCLIPConfig;
  readonly specs: ParamSpec[];
  protected params: Map<string, tf.Variable>;

  /** Random init (seeded) from an HF-style config object. */
  constructor(config: AltCLIPConfig | Record<string, unknown>, opts: AltCLIPOptions = {}) {
    super();
    this.config = altclipConfig(config as Record<string, unknown>);
    this.specs = altclipSpecs(this.config);
    const skip = new Set<string>();
    if (opts.embeddingsOnHost) {
      const i = this.specs.findIndex((s) => s.name === WORD_EMB);
      this.host.set(WORD_EMB, initialValues(this.specs[i], i, opts));
      skip.add(WORD_EMB);
    }
    this.params = randomVariables(this.specs, opts, skip);
    if (opts.trainable === false) for (const v of this.params.values()) v.trainable = false;
  }

  /** Wraps already-loaded variables (takes ownership). */
  static fromVariables(config: AltCLIPConfig | Record<string, unknown>, vars: Map<string, tf.Variable>, host = new Map<string, Float32Array>()): AltCLIPModel {
    const m = Object.create(AltCLIPModel.prototype) as AltCLIPModel;
    const cfg = altclipConfig(config as Record<string, unknown>);
    Object.assign(m, { config: cfg, specs: altclipSpecs(cfg), params: vars, host });
    const names = new Set([...vars.keys(), ...host.keys()]);
    const missing = m.specs.filter((s) => !names.has(s.name)).map((s) => s.name);
    if (missing.length) throw new Error(`AltCLIPModel: missing parameters: ${missing.join(', ')}`);
    return m;
  }

  /**
   * Loads `dir/config.json` + weights (model.safetensors, pytorch_model.bin or a sharded index); `dir` may be a
   * hub id such as 'BAAI/AltCLIP', downloaded into the Hugging Face cache.
   */
  static async fromPretrained(spec: string, opts: LoadOptions = {}): Promise<AltCLIPModel> {
    const dir = await resolveModelDir(spec, opts.hub);
    const raw = readConfigJson(dir);
    if (raw.model_type !== undefined && raw.model_type !== 'altclip')
      throw new Error(`${path.join(dir, 'config.json')}: model_type is '${raw.model_type}', expected 'altclip'`);
    const config = altclipConfig(raw);
    const specs = altclipSpecs(config);
    const reader = await openModelCheckpoint(dir);
    try {
      const plan = planLoad(reader, specs);
      assertPlan(plan, reader.path);
      const { vars, host } = await readPlanned(reader, plan, specs, {
        trainable: opts.trainable,
        host: opts.embeddingsOnHost ? new Set([WORD_EMB]) : undefined,
        onProgress: opts.onProgress,
      });
      return AltCLIPModel.fromVariables(config, vars, host);
    } finally {
      await reader.close();
    }
  }

  /**
   * Builds the stage-1 student from parts: the text tower from an xlm-roberta-* folder (keys `roberta.*` or
   * unprefixed `embeddings.*`/`encoder.*`; `lm_head.*`/pooler ignored) or from a config (random init); the
   * vision tower, visual_projection and logit_scale from a CLIP folder (HF CLIPModel); text_projection from
   * the CLIP teacher (`textProjection`, default: the same CLIP folder). pre_LN and transformation are new
   * (random, seeded); project_dim defaults to `projectDim`, else the text config's project_dim, else the teacher's
   * text hidden size (so the teacher's text_projection fits). `textProjection` may be a CLIPModel folder or a
   * CLIPTextModelWithProjection folder.
   */
  static async fromParts(parts: {
    vision: string;
    text: string | Record<string, unknown>;
    textProjection?: string;
    projectDim?: number;
    seed?: number;
    trainable?: boolean;
    hub?: SnapshotOptions;
  }): Promise<AltCLIPModel> {
    // Any of the folders may be a hub id.
    parts = {
      ...parts,
      vision: await resolveModelDir(parts.vision, parts.hub),
      text: typeof parts.text === 'string' ? await resolveModelDir(parts.text, parts.hub) : parts.text,
      textProjection: parts.textProjection === undefined ? undefined : await resolveModelDir(parts.textProjection, parts.hub),
    };
    const clipRaw = readConfigJson(parts.vision);
    if (clipRaw.model_type !== 'clip') throw new Error(`${parts.vision}: model_type '${clipRaw.model_type}' (a CLIPModel folder is expected)`);
    const clipCfg = clipConfig(clipRaw);
    const textRaw = typeof parts.text === 'string' ? readConfigJson(parts.text) : parts.text;
    const xlmr = xlmRobertaConfig(textRaw);
    const projSource = parts.textProjection ?? parts.vision;
    // The teacher may be a full CLIPModel folder or a CLIPTextModelWithProjection folder.
    const projRaw = projSource === parts.vision ? clipRaw : readConfigJson(projSource);
    const teacherHidden = projRaw.model_type === 'clip_text_model' ? clipTextConfig(projRaw).hidden_size : clipConfig(projRaw).text_config.hidden_size;
    const projectDim = parts.projectDim ?? (typeof textRaw.project_dim === 'number' ? textRaw.project_dim : teacherHidden);
    const textCfg: Record<string, unknown> = { ...xlmr, model_type: 'altclip_text_model', project_dim: projectDim };
    delete textCfg.architectures;
    const config = altclipConfig({
      text_config: textCfg,
      vision_config: { ...clipCfg.vision_config, model_type: 'altclip_vision_model' },
      projection_dim: clipCfg.projection_dim,
      logit_scale_init_value: clipCfg.logit_scale_init_value,
    });
    const specs = altclipSpecs(config);
    const loaded = new Map<string, tf.Variable>();
    const load = async (dir: string, select: (s: ParamSpec) => boolean, rename: (k: string) => string | null) => {
      const reader = await openModelCheckpoint(dir);
      try {
        const subset = specs.filter(select);
        const plan: LoadPlan = planLoad(reader, subset, rename);
        assertPlan(plan, reader.path);
        const { vars } = await readPlanned(reader, plan, subset, { trainable: parts.trainable });
        for (const [k, v] of vars) loaded.set(k, v);
      } catch (e) {
        for (const v of loaded.values()) v.dispose();
        throw e;
      } finally {
        await reader.close();
      }
    };
    const isVision = (s: ParamSpec) => s.name.startsWith('vision_model.') || s.name === 'visual_projection.weight' || s.name === 'logit_scale';
    await load(parts.vision, isVision, (k) => (k.startsWith('vision_model.') || k === 'visual_projection.weight' || k === 'logit_scale' ? k : null));
    await load(projSource, (s) => s.name === 'text_projection.weight', (k) => (k === 'text_projection.weight' ? k : null));
    if (typeof parts.text === 'string') {
      await load(parts.text, (s) => s.name.startsWith('text_model.roberta.'), (k) => {
        if (k.startsWith('lm_head.')) return null;
        if (k.startsWith('roberta.')) return `text_model.${k}`;
        if (k.startsWith('embeddings.') || k.startsWith('encoder.')) return `text_model.roberta.${k}`;
        return k;
      });
    }
    const fresh = randomVariables(specs, { seed: parts.seed }, new Set(loaded.keys()));
    for (const [k, v] of fresh) loaded.set(k, v);
    if (parts.trainable === false) for (const v of loaded.values()) v.trainable = false;
    return AltCLIPModel.fromVariables(config, loaded);
  }

  private textOpts(opts: TowerOptions) {
    return { ...opts, hostWordEmbeddings: this.host.get(WORD_EMB), gradCheckpointing: this.gradientCheckpointing };
  }

  /** HF AltCLIPTextModel: lastHiddenState = transformation(pre_LN(roberta)) [B, L, project_dim], pooler = its CLS row. */
  textModel(inputIds: tf.Tensor2D | number[][], attentionMask: tf.Tensor2D | number[][], opts: TowerOptions = {}): ModelOutput {
    return tidy(() => {
      const p = this.params as Params;
      const c = this.config.text_config;
      const ids = asInt2D(inputIds, 'input_ids');
      const mask = asInt2D(attentionMask, 'attention_mask');
      const out = xlmrForward(p, 'text_model.roberta.', c, ids, mask, this.textOpts(opts));
      const seq = layerNorm(out.lastHiddenState, param(p, 'text_model.pre_LN.weight'), param(p, 'text_model.pre_LN.bias'), c.layer_norm_eps);
      const proj = linear(seq, param(p, 'text_model.transformation.weight'), param(p, 'text_model.transformation.bias')) as tf.Tensor3D;
      const [B, , D] = proj.shape;
      const pooled = tf.reshape(tf.slice(proj, [0, 0, 0], [B, 1, D]), [B, D]) as tf.Tensor2D;
      return { lastHiddenState: proj, poolerOutput: pooled, hiddenStates: out.hiddenStates };
    });
  }

  /**
   * text_model.pooler_output = transformation(pre_LN(roberta_last[:, 0])) [B, project_dim]: the student feature
   * of stage-1 distillation (before text_projection). pre_LN/transformation run on the CLS row only.
   */
  textFeaturesForDistillation(inputIds: tf.Tensor2D | number[][], attentionMask: tf.Tensor2D | number[][], opts: RunOptions = {}): tf.Tensor2D {
    return tidy(() => {
      const p = this.params as Params;
      const c = this.config.text_config;
      const ids = asInt2D(inputIds, 'input_ids');
      const mask = asInt2D(attentionMask, 'attention_mask');
      const last = xlmrForward(p, 'text_model.roberta.', c, ids, mask, this.textOpts({ training: opts.training })).lastHiddenState;
      const [B, , H] = last.shape;
      const cls = tf.reshape(tf.slice(last, [0, 0, 0], [B, 1, H]), [B, H]);
      const seq = layerNorm(cls, param(p, 'text_model.pre_LN.weight'), param(p, 'text_model.pre_LN.bias'), c.layer_norm_eps);
      return linear(seq, param(p, 'text_model.transformation.weight'), param(p, 'text_model.transformation.bias')) as tf.Tensor2D;
    });
  }

  protected pooledText(inputIds: tf.Tensor2D | number[][], attentionMask: tf.Tensor2D | number[][], opts: RunOptions): tf.Tensor2D {
    return this.textFeaturesForDistillation(inputIds, attentionMask, opts);
  }
}
