/**
 * Hugging Face config.json files, read as they are. Missing keys take the HF defaults of the matching
 * configuration class (transformers configuration_altclip.py / configuration_clip.py); unknown keys are kept
 * so that save() writes back what was read.
 */
import { assertValidConfig, ConfigKind } from './config-validate';

export interface XLMRobertaConfig {
  model_type?: string;
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: string;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  layer_norm_eps: number;
  pad_token_id: number;
  bos_token_id: number;
  eos_token_id: number;
  initializer_range: number;
  [key: string]: unknown;
}

/** AltCLIP text tower = XLM-R + pre_LN + transformation (hidden -> project_dim). */
export interface AltCLIPTextConfig extends XLMRobertaConfig {
  project_dim: number;
  initializer_factor: number;
}

export interface CLIPVisionConfig {
  model_type?: string;
  hidden_size: number;
  intermediate_size: number;
  projection_dim: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_channels: number;
  image_size: number;
  patch_size: number;
  hidden_act: string;
  layer_norm_eps: number;
  attention_dropout: number;
  initializer_range: number;
  initializer_factor: number;
  [key: string]: unknown;
}

export interface CLIPTextConfig {
  model_type?: string;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  projection_dim: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  hidden_act: string;
  layer_norm_eps: number;
  attention_dropout: number;
  initializer_range: number;
  initializer_factor: number;
  pad_token_id: number;
  bos_token_id: number;
  eos_token_id: number;
  [key: string]: unknown;
}

export interface AltCLIPConfig {
  model_type: 'altclip';
  text_config: AltCLIPTextConfig;
  vision_config: CLIPVisionConfig;
  projection_dim: number;
  logit_scale_init_value: number;
  initializer_factor: number;
  [key: string]: unknown;
}

export interface CLIPConfig {
  model_type: 'clip';
  text_config: CLIPTextConfig;
  vision_config: CLIPVisionConfig;
  projection_dim: number;
  logit_scale_init_value: number;
  initializer_factor: number;
  [key: string]: unknown;
}

type Raw = Record<string, unknown>;

function withDefaults<T>(defaults: Record<string, unknown>, raw: Raw | undefined): T {
  const out: Raw = { ...defaults };
  for (const [k, v] of Object.entries(raw ?? {})) if (v !== null && v !== undefined) out[k] = v;
  return out as T;
}

const XLMR_DEFAULTS = {
  vocab_size: 250002, hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 4096,
  hidden_act: 'gelu', hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, max_position_embeddings: 514,
  type_vocab_size: 1, layer_norm_eps: 1e-5, pad_token_id: 1, bos_token_id: 0, eos_token_id: 2, initializer_range: 0.02,
};

// Builders fill in the HF defaults; the exported functions below also validate (config-validate.ts), once, at the top.
const buildAltclipText = (raw?: Raw) =>
  withDefaults<AltCLIPTextConfig>({ ...XLMR_DEFAULTS, model_type: 'altclip_text_model', project_dim: 768, initializer_factor: 0.02 }, raw);
const buildVision = (raw?: Raw, modelType = 'clip_vision_model') =>
  withDefaults<CLIPVisionConfig>(
    {
      model_type: modelType, hidden_size: 768, intermediate_size: 3072, projection_dim: 512, num_hidden_layers: 12,
      num_attention_heads: 12, num_channels: 3, image_size: 224, patch_size: 32, hidden_act: 'quick_gelu',
      layer_norm_eps: 1e-5, attention_dropout: 0.0, initializer_range: 0.02, initializer_factor: 1.0,
    },
    raw,
  );
const buildClipText = (raw?: Raw) =>
  withDefaults<CLIPTextConfig>(
    {
      model_type: 'clip_text_model', vocab_size: 49408, hidden_size: 512, intermediate_size: 2048, projection_dim: 512,
      num_hidden_layers: 12, num_attention_heads: 8, max_position_embeddings: 77, hidden_act: 'quick_gelu',
      layer_norm_eps: 1e-5, attention_dropout: 0.0, initializer_range: 0.02, initializer_factor: 1.0,
      pad_token_id: 1, bos_token_id: 49406, eos_token_id: 49407,
    },
    raw,
  );

function checked<T>(kind: ConfigKind, cfg: T, source: string): T {
  assertValidConfig(kind, cfg as Record<string, unknown>, source);
  return cfg;
}

/**
 * AltCLIPTextConfig (HF defaults = the BAAI/AltCLIP text tower). Every builder throws, one line per problem naming
 * `source` (the file) and the field, for a config the models cannot use (see config-validate.ts).
 */
export function altclipTextConfig(raw?: Raw, source = 'text config'): AltCLIPTextConfig {
  return checked('altclip_text', buildAltclipText(raw), source);
}

/** XLMRobertaConfig (HF defaults are xlm-roberta-base's: hidden 768, 12 layers, vocab 30522 is BERT's; we keep XLM-R's vocab). */
export function xlmRobertaConfig(raw?: Raw, source = 'text config'): XLMRobertaConfig {
  return checked('xlmr', withDefaults<XLMRobertaConfig>({ ...XLMR_DEFAULTS, model_type: 'xlm-roberta' }, raw), source);
}

/** CLIPVisionConfig / AltCLIPVisionConfig (HF defaults are ViT-B/32, NOT AltCLIP's ViT-L/14). */
export function clipVisionConfig(raw?: Raw, modelType = 'clip_vision_model', source = 'vision config'): CLIPVisionConfig {
  return checked('vision', buildVision(raw, modelType), source);
}

export function clipTextConfig(raw?: Raw, source = 'text config'): CLIPTextConfig {
  return checked('clip_text', buildClipText(raw), source);
}

export function altclipConfig(raw: Raw = {}, source = 'model config'): AltCLIPConfig {
  const cfg = withDefaults<AltCLIPConfig>({ projection_dim: 768, logit_scale_init_value: 2.6592, initializer_factor: 1.0 }, raw);
  cfg.model_type = 'altclip';
  cfg.architectures = ['AltCLIPModel'];
  cfg.text_config = buildAltclipText(subConfig(raw.text_config, 'text_config', source));
  cfg.vision_config = buildVision(subConfig(raw.vision_config, 'vision_config', source), 'altclip_vision_model');
  return checked('altclip', cfg, source);
}

export function clipConfig(raw: Raw = {}, source = 'model config'): CLIPConfig {
  const cfg = withDefaults<CLIPConfig>({ projection_dim: 512, logit_scale_init_value: 2.6592, initializer_factor: 1.0 }, raw);
  cfg.model_type = 'clip';
  cfg.architectures = ['CLIPModel'];
  cfg.text_config = buildClipText(subConfig(raw.text_config, 'text_config', source));
  cfg.vision_config = buildVision(subConfig(raw.vision_config, 'vision_config', source));
  return checked('clip', cfg, source);
}

/** A nested config (text_config, vision_config): an object or absent (HF defaults). */
function subConfig(v: unknown, key: string, source: string): Raw | undefined {
  if (v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v))) return v as Raw | undefined;
  throw new Error(`${source}: ${key} must be an object, got ${JSON.stringify(v)}`);
}

export function headDim(hidden: number, heads: number, where: string): number {
  if (hidden % heads !== 0) throw new Error(`${where}: hidden_size ${hidden} is not divisible by num_attention_heads ${heads}`);
  return hidden / heads;
}
