import * as tf from '@tensorflow/tfjs-core';
import { ClipLikeModel, FROZEN_DTYPES, FrozenDtype } from '@altclip/models';
import { nativeOptimizerOps } from './native-optional';

/**
 * Which parameters train, chosen by HF key. Keys follow the checkpoint layout:
 *   AltCLIP text:  text_model.roberta.embeddings.*, text_model.roberta.encoder.layer.N.*, text_model.pre_LN.*,
 *                  text_model.transformation.*, text_projection.weight
 *   vision:        vision_model.embeddings.*, vision_model.encoder.layers.N.*, vision_model.{pre_layrnorm,post_layernorm}.*,
 *                  visual_projection.weight
 *   CLIP text:     text_model.embeddings.*, text_model.encoder.layers.N.*, text_model.final_layer_norm.*
 */
export interface FreezeOptions {
  /** Freeze the vision tower and visual_projection (stage 2 / LiT). */
  lockImage?: boolean;
  /** Freeze the text tower and text_projection. */
  lockText?: boolean;
  /** With a locked tower: keep its last N encoder layers (and the parts after them) trainable. */
  unlockedImageLayers?: number;
  unlockedTextLayers?: number;
  /** Freeze every `*embeddings*` parameter (word/position/token_type/patch/class). */
  freezeEmbeddings?: boolean;
  /** Freeze logit_scale (a fixed temperature). */
  freezeLogitScale?: boolean;
  /** Extra patterns (regexes, or their sources): frozen if any matches, unless an `unfreeze` pattern matches too. */
  freeze?: (string | RegExp)[];
  unfreeze?: (string | RegExp)[];
}

const regexes = (ps: (string | RegExp)[] | undefined) => (ps ?? []).map((p) => (p instanceof RegExp ? p : new RegExp(p)));

const isImageKey = (k: string) => k.startsWith('vision_model.') || k.startsWith('visual_projection');
const isTextKey = (k: string) => k.startsWith('text_model.') || k.startsWith('text_projection');

/** The encoder layer index in a key (`encoder.layer.N.` or `encoder.layers.N.`), or undefined. */
export function layerIndex(key: string): number | undefined {
  const m = /\.encoder\.layers?\.(\d+)\./.exec(key);
  return m ? Number(m[1]) : undefined;
}

/** Number of encoder layers among `keys` that belong to `tower`. */
function countLayers(keys: string[], inTower: (k: string) => boolean): number {
  let n = 0;
  for (const k of keys) if (inTower(k)) n = Math.max(n, (layerIndex(k) ?? -1) + 1);
  return n;
}

/**
 * A predicate `key -> trainable` for the given options. Unlocking the last N layers of a locked tower also unlocks
 * what sits after the encoder (final/post LayerNorm, pre_LN/transformation, the projection), as open_clip's
 * `lock_text_unlocked_layers` does; the embeddings stay frozen.
 */
export function trainablePredicate(keys: string[], o: FreezeOptions): (key: string) => boolean {
  const nImg = countLayers(keys, isImageKey);
  const nTxt = countLayers(keys, isTextKey);
  const lockedTower = (k: string, inTower: boolean, unlocked: number, n: number) => {
    if (!inTower) return false;
    if (unlocked <= 0) return true;
    const li = layerIndex(k);
    if (li !== undefined) return li < n - unlocked;
    return /embeddings|pre_layrnorm/.test(k); // embeddings stay locked; heads after the encoder unlock
  };
  const freeze = regexes(o.freeze);
  const unfreeze = regexes(o.unfreeze);
  return (k: string) => {
    if (unfreeze.some((p) => p.test(k))) return true;
    if (freeze.some((p) => p.test(k))) return false;
    if (o.freezeLogitScale && k === 'logit_scale') return false;
    if (o.freezeEmbeddings && /embeddings?\./.test(k) && !/^logit_scale$/.test(k)) return false;
    if (o.lockImage && lockedTower(k, isImageKey(k), o.unlockedImageLayers ?? 0, nImg)) return false;
    if (o.lockText && lockedTower(k, isTextKey(k), o.unlockedTextLayers ?? 0, nTxt)) return false;
    return true;
  };
}

/** The trainable subset of `all` under `o`. Throws when nothing is left to train. */
export function selectTrainable(all: Map<string, tf.Variable>, o: FreezeOptions): Map<string, tf.Variable> {
  const pred = trainablePredicate([...all.keys()], o);
  const out = new Map<string, tf.Variable>();
  for (const [k, v] of all) if (pred(k)) out.set(k, v);
  if (out.size === 0) throw new Error(`every parameter is frozen (${all.size} parameters; check lockImage/lockText/freeze options)`);
  return out;
}

/**
 * Rows that torch's `nn.Embedding(padding_idx=pad)` never updates: row `pad` of every `*word_embeddings.weight` and
 * `*position_embeddings.weight` of an XLM-R (AltCLIP) text tower. CLIP's text embeddings have no padding_idx.
 */
export function paddingRows(keys: string[], padTokenId: number | undefined): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (padTokenId === undefined || padTokenId === null) return out;
  for (const k of keys) {
    if (/roberta\.embeddings\.(word_embeddings|position_embeddings)\.weight$/.test(k)) out.set(k, [padTokenId]);
  }
  return out;
}

/**
 * Zeroes the gradient rows listed in `rows` (torch padding_idx semantics). Where @altclip/native runs, in place (the
 * map holds the same tensors); elsewhere new tensors replace them and the inputs are kept (the caller disposes them).
 */
export function maskGradRows(grads: Map<string, tf.Tensor>, rows: Map<string, number[]>): Map<string, tf.Tensor> {
  if (rows.size === 0) return grads;
  const out = new Map(grads);
  for (const [k, rs] of rows) {
    const g = grads.get(k);
    if (!g) continue;
    // In place where @altclip/native runs (a few rows written, instead of a pass over, and a copy of, a gradient
    // that is 1 GB for XLM-R-large's word embeddings); the caller sees the same tensor back.
    if (nativeOptimizerOps()?.nativeZeroRowsInPlace(g, rs)) continue;
    const mask = new Float32Array(g.shape[0]).fill(1);
    for (const r of rs) if (r >= 0 && r < mask.length) mask[r] = 0;
    out.set(k, tf.tidy(() => tf.mul(g, tf.tensor(mask, [g.shape[0], ...g.shape.slice(1).map(() => 1)]))));
  }
  return out;
}

/** --frozen-dtype: every parameter outside `trainable` goes to half storage (no-op for f32 / unset). */
export function storeFrozen(model: ClipLikeModel, trainable: Map<string, tf.Variable>, dtype: 'f32' | FrozenDtype | undefined, log?: (line: string) => void): void {
  if (dtype === undefined || dtype === 'f32') return;
  if (!(FROZEN_DTYPES as string[]).includes(dtype)) throw new Error(`--frozen-dtype must be f32, ${FROZEN_DTYPES.join(' or ')}, got '${dtype}'`);
  const frozen: string[] = [];
  for (const [k, v] of model.namedParameters()) {
    if (trainable.has(k)) continue;
    v.trainable = false;
    frozen.push(k);
  }
  const { moved, bytesSaved } = model.storeFrozenAs(dtype, frozen);
  log?.(`frozen parameters in ${dtype}: ${moved.length} tensors, ${(bytesSaved / 2 ** 20).toFixed(1)} MiB saved`);
}
