/**
 * The parameter list of every model: HF state-dict key, shape and how HF initialises it. Loading (shape checks),
 * random init, parameter counting and saving are all driven by these lists, so the key set lives in one place.
 */
import { AltCLIPConfig, AltCLIPTextConfig, CLIPConfig, CLIPTextConfig, CLIPVisionConfig, XLMRobertaConfig } from './config';

export type InitRule = { kind: 'normal'; std: number } | { kind: 'zeros' } | { kind: 'ones' } | { kind: 'const'; value: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: InitRule;
  /** torch nn.Embedding padding_idx: this row is zeroed at init and gets no gradient. */
  paddingIdx?: number;
}

const normal = (std: number): InitRule => ({ kind: 'normal', std });
const ZEROS: InitRule = { kind: 'zeros' };
const ONES: InitRule = { kind: 'ones' };

function layerNormSpecs(name: string, dim: number): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [dim], init: ONES },
    { name: `${name}.bias`, shape: [dim], init: ZEROS },
  ];
}

function linearSpecs(name: string, out: number, inp: number, std: number, bias = true): ParamSpec[] {
  const w: ParamSpec = { name: `${name}.weight`, shape: [out, inp], init: normal(std) };
  return bias ? [w, { name: `${name}.bias`, shape: [out], init: ZEROS }] : [w];
}

/**
 * XLM-R / RoBERTa body (`prefix` = 'text_model.roberta.' inside AltCLIP). Linear and embedding weights use
 * normal(0, initializer_range) as BERT does. (HF AltCLIPModel._init_weights would use the top-level
 * initializer_factor = 1.0 as std for these, which is not a usable init; we follow XLM-R instead.)
 */
export function xlmrSpecs(prefix: string, c: XLMRobertaConfig): ParamSpec[] {
  const H = c.hidden_size;
  const I = c.intermediate_size;
  const std = c.initializer_range;
  const specs: ParamSpec[] = [
    { name: `${prefix}embeddings.word_embeddings.weight`, shape: [c.vocab_size, H], init: normal(std), paddingIdx: c.pad_token_id },
    { name: `${prefix}embeddings.position_embeddings.weight`, shape: [c.max_position_embeddings, H], init: normal(std), paddingIdx: c.pad_token_id },
    { name: `${prefix}embeddings.token_type_embeddings.weight`, shape: [c.type_vocab_size, H], init: normal(std) },
    ...layerNormSpecs(`${prefix}embeddings.LayerNorm`, H),
  ];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `${prefix}encoder.layer.${l}.`;
    specs.push(
      ...linearSpecs(`${p}attention.self.query`, H, H, std),
      ...linearSpecs(`${p}attention.self.key`, H, H, std),
      ...linearSpecs(`${p}attention.self.value`, H, H, std),
      ...linearSpecs(`${p}attention.output.dense`, H, H, std),
      ...layerNormSpecs(`${p}attention.output.LayerNorm`, H),
      ...linearSpecs(`${p}intermediate.dense`, I, H, std),
      ...linearSpecs(`${p}output.dense`, H, I, std),
      ...layerNormSpecs(`${p}output.LayerNorm`, H),
    );
  }
  return specs;
}

/** AltCLIPTextModel: roberta + pre_LN + transformation. */
export function altclipTextSpecs(c: AltCLIPTextConfig): ParamSpec[] {
  return [
    ...xlmrSpecs('text_model.roberta.', c),
    ...layerNormSpecs('text_model.pre_LN', c.hidden_size),
    ...linearSpecs('text_model.transformation', c.project_dim, c.hidden_size, c.initializer_range),
  ];
}

/** Pre-LN CLIP encoder layers with CLIP's factor-scaled init. */
function clipEncoderSpecs(prefix: string, H: number, I: number, layers: number, factor: number): ParamSpec[] {
  const inProjStd = H ** -0.5 * (2 * layers) ** -0.5 * factor;
  const outProjStd = H ** -0.5 * factor;
  const fcStd = (2 * H) ** -0.5 * factor;
  const specs: ParamSpec[] = [];
  for (let l = 0; l < layers; l++) {
    const p = `${prefix}encoder.layers.${l}.`;
    specs.push(
      ...linearSpecs(`${p}self_attn.k_proj`, H, H, inProjStd),
      ...linearSpecs(`${p}self_attn.v_proj`, H, H, inProjStd),
      ...linearSpecs(`${p}self_attn.q_proj`, H, H, inProjStd),
      ...linearSpecs(`${p}self_attn.out_proj`, H, H, outProjStd),
      ...layerNormSpecs(`${p}layer_norm1`, H),
      ...linearSpecs(`${p}mlp.fc1`, I, H, fcStd),
      ...linearSpecs(`${p}mlp.fc2`, H, I, inProjStd),
      ...layerNormSpecs(`${p}layer_norm2`, H),
    );
  }
  return specs;
}

export function numPatches(c: CLIPVisionConfig): number {
  if (c.image_size % c.patch_size !== 0) throw new Error(`vision_config: image_size ${c.image_size} is not a multiple of patch_size ${c.patch_size}`);
  return (c.image_size / c.patch_size) ** 2;
}

/** CLIP ViT (`vision_model.` prefix in both CLIPModel and AltCLIPModel). */
export function visionSpecs(c: CLIPVisionConfig): ParamSpec[] {
  const H = c.hidden_size;
  const f = c.initializer_factor;
  return [
    { name: 'vision_model.embeddings.class_embedding', shape: [H], init: normal(H ** -0.5 * f) },
    { name: 'vision_model.embeddings.patch_embedding.weight', shape: [H, c.num_channels, c.patch_size, c.patch_size], init: normal(c.initializer_range * f) },
    { name: 'vision_model.embeddings.position_embedding.weight', shape: [numPatches(c) + 1, H], init: normal(c.initializer_range * f) },
    ...layerNormSpecs('vision_model.pre_layrnorm', H),
    ...clipEncoderSpecs('vision_model.', H, c.intermediate_size, c.num_hidden_layers, f),
    ...layerNormSpecs('vision_model.post_layernorm', H),
  ];
}

/** CLIP text transformer (`text_model.` prefix). */
export function clipTextSpecs(c: CLIPTextConfig): ParamSpec[] {
  const H = c.hidden_size;
  const f = c.initializer_factor;
  return [
    { name: 'text_model.embeddings.token_embedding.weight', shape: [c.vocab_size, H], init: normal(0.02 * f) },
    { name: 'text_model.embeddings.position_embedding.weight', shape: [c.max_position_embeddings, H], init: normal(0.01 * f) },
    ...clipEncoderSpecs('text_model.', H, c.intermediate_size, c.num_hidden_layers, f),
    ...layerNormSpecs('text_model.final_layer_norm', H),
  ];
}

function headSpecs(textDim: number, visionDim: number, c: AltCLIPConfig | CLIPConfig): ParamSpec[] {
  return [
    { name: 'logit_scale', shape: [], init: { kind: 'const', value: c.logit_scale_init_value } },
    ...linearSpecs('text_projection', c.projection_dim, textDim, textDim ** -0.5 * c.initializer_factor, false),
    ...linearSpecs('visual_projection', c.projection_dim, visionDim, visionDim ** -0.5 * c.initializer_factor, false),
  ];
}

export function altclipSpecs(c: AltCLIPConfig): ParamSpec[] {
  return [...headSpecs(c.text_config.project_dim, c.vision_config.hidden_size, c), ...altclipTextSpecs(c.text_config), ...visionSpecs(c.vision_config)];
}

export function clipSpecs(c: CLIPConfig): ParamSpec[] {
  return [...headSpecs(c.text_config.hidden_size, c.vision_config.hidden_size, c), ...clipTextSpecs(c.text_config), ...visionSpecs(c.vision_config)];
}

/** CLIPTextModelWithProjection: text_model.* + text_projection (no bias). */
export function clipTextWithProjectionSpecs(c: CLIPTextConfig): ParamSpec[] {
  const H = c.hidden_size;
  return [...clipTextSpecs(c), ...linearSpecs('text_projection', c.projection_dim, H, H ** -0.5 * c.initializer_factor, false)];
}

export function countParams(specs: ParamSpec[]): number {
  return specs.reduce((n, s) => n + s.shape.reduce((a, d) => a * d, 1), 0);
}
