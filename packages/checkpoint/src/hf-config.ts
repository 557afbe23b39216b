/**
 * Writing Hugging Face config.json files that transformers >= 5 accepts. Its config classes are strict
 * dataclasses: a field annotated `float` rejects the JSON literal `1` ("initializer_factor expected float, got
 * int"), and JSON.stringify writes the number 1.0 as `1`. So integral values of float-typed fields are written
 * with a `.0`. The field lists mirror the annotations of transformers 5.18's AltCLIPConfig, AltCLIPTextConfig,
 * AltCLIPVisionConfig, CLIPConfig, CLIPTextConfig, CLIPVisionConfig and XLMRobertaConfig (every field whose type
 * admits float); packages/models/test checks saved configs against a map generated from those classes
 * (scripts/gen-hf-config-types.py). Keys transformers does not declare are not validated and are written as is.
 */

const VISION_FLOATS = ['attention_dropout', 'initializer_factor', 'initializer_range', 'layer_norm_eps'];
const XLMR_FLOATS = ['attention_probs_dropout_prob', 'hidden_dropout_prob', 'initializer_range', 'layer_norm_eps'];

/** model_type -> fields written as floats. */
export const HF_FLOAT_FIELDS: Record<string, ReadonlySet<string>> = {
  altclip: new Set(['initializer_factor', 'logit_scale_init_value']),
  clip: new Set(['initializer_factor', 'logit_scale_init_value']),
  altclip_text_model: new Set([...XLMR_FLOATS, 'initializer_factor']),
  'xlm-roberta': new Set([...XLMR_FLOATS, 'classifier_dropout']),
  clip_text_model: new Set(VISION_FLOATS),
  altclip_vision_model: new Set(VISION_FLOATS),
  clip_vision_model: new Set(VISION_FLOATS),
};

/** The model_type of a composite config's sub-configs when they do not name their own. */
const SUB_CONFIGS: Record<string, Record<string, string>> = {
  altclip: { text_config: 'altclip_text_model', vision_config: 'altclip_vision_model' },
  clip: { text_config: 'clip_text_model', vision_config: 'clip_vision_model' },
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function floatLiteral(v: number): string {
  // 1e21 and up already print in exponent form, which Python reads as a float
  return Number.isInteger(v) && Math.abs(v) < 1e21 ? `${v}.0` : JSON.stringify(v);
}

/**
 * JSON.stringify(config, null, 2), except that integral numbers in float-typed fields keep a `.0`. The float
 * fields are looked up by each object's model_type (a sub-config without one takes its parent's sub_configs type).
 */
export function stringifyHfConfig(config: Record<string, unknown>): string {
  const write = (v: unknown, indent: string, floats: ReadonlySet<string> | undefined, modelType: string | undefined, key?: string): string => {
    if (typeof v === 'number' && key !== undefined && floats?.has(key) && Number.isFinite(v)) return floatLiteral(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      const inner = indent + '  ';
      return `[\n${v.map((x) => inner + (write(x, inner, undefined, undefined) ?? 'null')).join(',\n')}\n${indent}]`;
    }
    if (isPlainObject(v)) {
      const entries = Object.entries(v).filter(([, x]) => x !== undefined && typeof x !== 'function');
      if (entries.length === 0) return '{}';
      const inner = indent + '  ';
      const parts = entries.map(([k, x]) => {
        let t = modelType && isPlainObject(x) ? SUB_CONFIGS[modelType]?.[k] : undefined;
        if (isPlainObject(x) && typeof x.model_type === 'string') t = x.model_type;
        const childFloats = isPlainObject(x) ? (t ? HF_FLOAT_FIELDS[t] : undefined) : floats;
        return `${inner}${JSON.stringify(k)}: ${write(x, inner, childFloats, t, k)}`;
      });
      return `{\n${parts.join(',\n')}\n${indent}}`;
    }
    return JSON.stringify(v) ?? 'null';
  };
  const type = typeof config.model_type === 'string' ? config.model_type : undefined;
  return write(config, '', type ? HF_FLOAT_FIELDS[type] : undefined, type) + '\n';
}

const ALL_FLOAT_FIELDS = [...new Set(Object.values(HF_FLOAT_FIELDS).flatMap((s) => [...s]))];
const INT_IN_FLOAT_FIELD = new RegExp(`("(?:${ALL_FLOAT_FIELDS.join('|')})"\\s*:\\s*)(-?\\d+)(?=\\s*[,}\\n])`, 'g');

/**
 * The text of a config.json with integer literals in float fields (`"initializer_factor": 1`, as older versions of
 * save() wrote) turned into floats (`1.0`); every other byte is kept. Every field named in HF_FLOAT_FIELDS admits a
 * float in all of those classes, so the fix does not depend on which sub-config a key sits in.
 */
export function fixHfConfigFloats(text: string): string {
  return text.replace(INT_IN_FLOAT_FIELD, '$1$2.0');
}
