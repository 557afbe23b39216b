/**
 * Checks of model configs (config.json files, configs/models/*.json, config objects) before anything is allocated:
 * a typo such as `num_hidden_layers: 1e9` would otherwise build a billion layer specs (out of JS heap after half a
 * minute), and `layer_norm_eps: "x"` or heads that do not divide the hidden size would reach the kernels.
 */
import { constants } from 'buffer';
import type { AltCLIPConfig, CLIPConfig } from './config';
import { activation } from './ops';
import { altclipSpecs, clipSpecs, countParams, ParamSpec } from './specs';

/**
 * Upper bounds, far above any released model yet low enough that a slip (1e9, an extra digit or three) is refused
 * before allocating. For scale: AltCLIP-L has 24 text layers of hidden 1024, a ViT-L/14 of 24 layers at 224 px and
 * a 250,002-token vocabulary; the largest public transformers have ~130 layers, hidden sizes up to ~25k, FFNs up to
 * ~100k, vocabularies up to ~260k, heads up to 128 and contexts up to ~1M positions.
 */
export const CONFIG_LIMITS = {
  layers: 512,
  hidden: 65536,
  intermediate: 262144,
  heads: 1024,
  vocab: 2 ** 24,
  positions: 2 ** 20,
  typeVocab: 1024,
  imageSize: 16384,
  channels: 64,
  /** All parameters: 2^36 floats are 256 GiB in f32, beyond anything a CPU framework can hold. */
  parameters: 2 ** 36,
};

/** A field's rule: undefined when `v` passes, else what it must be. */
type Rule = (v: unknown) => string | undefined;

const int = (min: number, max: number): Rule => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? undefined : `must be an integer in [${min}, ${max}]`;
const finite: Rule = (v) => (typeof v === 'number' && Number.isFinite(v) ? undefined : 'must be a finite number');
const nonNegative: Rule = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : 'must be a finite number >= 0');
const probability: Rule = (v) => (typeof v === 'number' && v >= 0 && v < 1 ? undefined : 'must be a number in [0, 1)');
const epsilon: Rule = (v) => (typeof v === 'number' && v > 0 && v < 1 ? undefined : 'must be a number in (0, 1)');
const tokenId: Rule = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0');
const hiddenAct: Rule = (v) => {
  if (typeof v !== 'string') return 'must be an activation name (a string)';
  try {
    activation(v);
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(/^unsupported hidden_act '[^']*' /, 'is not supported ');
  }
};

const L = CONFIG_LIMITS;
const TOWER: Record<string, Rule> = {
  hidden_size: int(1, L.hidden),
  num_hidden_layers: int(1, L.layers),
  num_attention_heads: int(1, L.heads),
  intermediate_size: int(1, L.intermediate),
  hidden_act: hiddenAct,
  layer_norm_eps: epsilon,
  initializer_range: nonNegative,
};
const TEXT: Record<string, Rule> = {
  ...TOWER,
  vocab_size: int(1, L.vocab),
  max_position_embeddings: int(1, L.positions),
  pad_token_id: tokenId,
  bos_token_id: tokenId,
  eos_token_id: tokenId,
};
/** Which rules a config of each kind has; top-level composite configs add their towers under their keys. */
const RULES = {
  xlmr: { ...TEXT, type_vocab_size: int(1, L.typeVocab), hidden_dropout_prob: probability, attention_probs_dropout_prob: probability },
  clipText: { ...TEXT, projection_dim: int(1, L.hidden), attention_dropout: probability, initializer_factor: nonNegative },
  vision: {
    ...TOWER, num_channels: int(1, L.channels), image_size: int(1, L.imageSize), patch_size: int(1, L.imageSize), projection_dim: int(1, L.hidden),
    attention_dropout: probability, initializer_factor: nonNegative,
  },
  top: { projection_dim: int(1, L.hidden), logit_scale_init_value: finite, initializer_factor: nonNegative },
};
const ALTCLIP_TEXT = { ...RULES.xlmr, project_dim: int(1, L.hidden), initializer_factor: nonNegative };

export type ConfigKind = 'altclip' | 'clip' | 'xlmr' | 'altclip_text' | 'clip_text' | 'vision';

const show = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v) ?? String(v));

/** Field and cross-field problems of one tower's config (`at`: its key path, e.g. "text_config."). */
function towerProblems(c: Record<string, unknown>, rules: Record<string, Rule>, at: string): string[] {
  const out: string[] = [];
  for (const [k, rule] of Object.entries(rules)) {
    const why = rule(c[k]);
    if (why) out.push(`${at}${k} ${why}, got ${show(c[k])}`);
  }
  if (out.length) return out; // the cross-field checks below assume sane fields
  const [hidden, heads] = [c.hidden_size as number, c.num_attention_heads as number];
  if ('hidden_size' in rules && hidden % heads !== 0) out.push(`${at}num_attention_heads ${heads} does not divide ${at}hidden_size ${hidden}`);
  if ('image_size' in rules && (c.image_size as number) % (c.patch_size as number) !== 0)
    out.push(`${at}patch_size ${c.patch_size} does not divide ${at}image_size ${c.image_size}`);
  return out;
}

/** Sizes: no tensor beyond the largest array Node can allocate, and a bounded total (checked once the fields are sane). */
function sizeProblems(specs: ParamSpec[]): string[] {
  const out: string[] = [];
  const big = specs.find((s) => 4 * countParams([s]) > constants.MAX_LENGTH);
  if (big)
    out.push(`tensor '${big.name}' [${big.shape.join(', ')}] would take ${(4 * countParams([big]) / 2 ** 30).toFixed(1)} GiB, more than the largest array Node can allocate (${(constants.MAX_LENGTH / 2 ** 30).toFixed(1)} GiB)`);
  const total = countParams(specs);
  if (total > L.parameters) out.push(`${total.toExponential(2)} parameters is more than the limit of ${L.parameters.toExponential(2)} (${(4 * L.parameters) / 2 ** 30} GiB in f32)`);
  return out;
}

/** Every problem of a config of `kind` (after HF defaults are filled in), one line each; empty when it is usable. */
export function configProblems(kind: ConfigKind, cfg: Record<string, unknown>): string[] {
  switch (kind) {
    case 'xlmr':
      return towerProblems(cfg, RULES.xlmr, '');
    case 'altclip_text':
      return towerProblems(cfg, ALTCLIP_TEXT, '');
    case 'clip_text':
      return towerProblems(cfg, RULES.clipText, '');
    case 'vision':
      return towerProblems(cfg, RULES.vision, '');
  }
  const text = kind === 'altclip' ? ALTCLIP_TEXT : RULES.clipText;
  const out = [
    ...towerProblems(cfg, RULES.top, ''),
    ...towerProblems(cfg.text_config as Record<string, unknown>, text, 'text_config.'),
    ...towerProblems(cfg.vision_config as Record<string, unknown>, RULES.vision, 'vision_config.'),
  ];
  if (out.length) return out;
  return sizeProblems(kind === 'altclip' ? altclipSpecs(cfg as AltCLIPConfig) : clipSpecs(cfg as CLIPConfig));
}

/** Throws one line per problem, each `<source>: <problem>` (source: the file, or what the config is). */
export function assertValidConfig(kind: ConfigKind, cfg: Record<string, unknown>, source: string): void {
  const problems = configProblems(kind, cfg);
  if (problems.length) throw new Error(problems.map((p) => `${source}: ${p}`).join('\n'));
}
