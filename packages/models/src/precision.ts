/**
 * Precisions, with open_clip's names: how the matmuls compute and how weights are stored. One implementation per
 * precision behind one small interface, which the trainer and the inference commands call as hooks (no branch in
 * their loops):
 *
 *   const precision = getPrecision(options.precision ?? 'fp32');
 *   log(precision.support().line);                            // what runs on this machine, and why
 *   precision.prepareModel(model, trainableKeys);             // once, after loading (bf16: frozen weights in bf16)
 *   const r = precision.autocast(() => valueAndGrads(...));   // each step's forward + backward, or an inference call
 *
 *   fp32      everything float32 (the default: results do not depend on the CPU).
 *   amp_bf16  float32 master weights and AdamW moments; the inputs of linear layers, the patch embedding and
 *             attention's two products rounded to bf16 with float32 accumulation; LayerNorm statistics, softmax,
 *             the losses, logit_scale and the optimizer in float32; each linear layer saves its input for the
 *             backward pass in bf16 (2 bytes per value). As torch.autocast('cpu', dtype=torch.bfloat16).
 *   bf16      amp_bf16's compute, and frozen weights (inference, a locked tower) stored in bf16.
 *
 * bf16 products need @altclip/native's AltclipGemmBf16 kernel on the current backend and a CPU with AVX512_BF16
 * (vdpbf16ps). Without them compute stays float32 (support() says so; bf16 storage still saves memory), rather than
 * run the emulated tile, which computes the same values at float32 speed; ALTCLIP_NATIVE_BF16=emulate (or
 * @altclip/native's setNativeBf16Emulation(true)) opts into it: tests, and bf16 numerics on such a CPU.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeBf16 } from '@altclip/backend';
import type { FrozenDtype } from './half';

export type PrecisionName = 'fp32' | 'amp_bf16' | 'bf16';
export const PRECISION_NAMES: PrecisionName[] = ['fp32', 'amp_bf16', 'bf16'];

export interface PrecisionSupport {
  precision: PrecisionName;
  /** What the matmuls compute in here: 'bf16' products (float32 accumulation) or 'fp32'. */
  compute: 'bf16' | 'fp32';
  /** Where the bf16 products run: 'avx512_bf16', 'emulated', or null (float32 compute). */
  gemm: string | null;
  /** One line for `altclip info` and the run's log, naming any fallback and its reason. */
  line: string;
}

export interface Precision {
  readonly name: PrecisionName;
  support(): PrecisionSupport;
  /**
   * Runs `fn` (one step's forward and backward, or an inference call) with the matmuls of linear layers, the patch
   * embedding and attention in this precision; restores the previous one when `fn` returns or its promise settles.
   */
  autocast<T>(fn: () => T): T;
  /**
   * Once per model, after loading and before training: stores the weights this precision keeps in bf16 (bf16:
   * every matrix not in `trainable`, the keys the run trains; none for inference) in half storage, as
   * --frozen-dtype bf16 does; those already in half storage (--frozen-dtype) stay as they are. Returns a line for
   * the log ('' when nothing changed).
   */
  prepareModel(model: PrecisionModel, trainable?: Iterable<string>): string;
}

/** What prepareModel needs of a model (AltCLIPModel and CLIPModel have it). */
export interface PrecisionModel {
  namedParameters(): Map<string, tf.Variable>;
  storeFrozenAs(dtype: FrozenDtype, keys: Iterable<string>): { moved: string[]; bytesSaved: number };
}

export const BF16_GEMM_KERNEL = 'AltclipGemmBf16';

/** Why bf16 products cannot run here, or null when they can (and on which tile). */
export function bf16ComputeSupport(): { gemm: string | null; why: string | null } {
  const backend = tf.getBackend();
  if (!tf.getKernel(BF16_GEMM_KERNEL, backend)) {
    return { gemm: null, why: `the '${backend}' backend has no bf16 GEMM (it needs @altclip/native's 'native' backend)` };
  }
  const info = nativeBf16();
  if (info?.isa === 'avx512_bf16') return { gemm: 'avx512_bf16', why: null };
  if (info?.forced) return { gemm: 'emulated', why: null };
  return { gemm: null, why: 'this CPU has no AVX512_BF16 (vdpbf16ps)' };
}

let active: 'bf16' | 'fp32' = 'fp32';

/** What the matmuls of linear layers, the patch embedding and attention compute in now (set by autocast). */
export function matmulPrecision(): 'bf16' | 'fp32' {
  return active;
}

function withMatmulPrecision<T>(mode: 'bf16' | 'fp32', fn: () => T): T {
  const before = active;
  active = mode;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    active = before;
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => {
      active = before;
    }) as unknown as T;
  }
  active = before;
  return result;
}

function mixed(name: 'amp_bf16' | 'bf16', storage: string): PrecisionSupport {
  const { gemm, why } = bf16ComputeSupport();
  const what = gemm === 'avx512_bf16' ? 'bf16 matmuls on AVX512_BF16 (vdpbf16ps), float32 accumulation'
    : 'bf16 matmuls on the emulated tile (emulation asked for: bf16 values at float32 speed)';
  const line = gemm ? `precision ${name}: ${what}; ${storage}` : `precision ${name}: ${why}, so matmuls compute in fp32; ${storage}`;
  return { precision: name, compute: gemm ? 'bf16' : 'fp32', gemm, line };
}

const fp32: Precision = {
  name: 'fp32',
  support: () => ({ precision: 'fp32', compute: 'fp32', gemm: null, line: 'precision fp32: float32 matmuls and weights' }),
  autocast: (fn) => withMatmulPrecision('fp32', fn),
  prepareModel: () => '',
};

const ampBf16: Precision = {
  name: 'amp_bf16',
  support: () => mixed('amp_bf16', 'float32 master weights, optimizer, LayerNorm, softmax and losses'),
  autocast(fn) {
    return withMatmulPrecision(this.support().compute, fn);
  },
  prepareModel: () => '',
};

const bf16: Precision = {
  name: 'bf16',
  support: () => mixed('bf16', 'frozen weights stored in bf16, trainable ones float32'),
  autocast(fn) {
    return withMatmulPrecision(this.support().compute, fn);
  },
  prepareModel(model, trainable = []) {
    const train = new Set(trainable);
    const frozen: string[] = [];
    for (const [k, v] of model.namedParameters()) {
      if (train.has(k)) continue;
      v.trainable = false; // not trained by this run (the caller's word), so it may leave float32
      frozen.push(k);
    }
    const { moved, bytesSaved } = model.storeFrozenAs('bf16', frozen);
    return moved.length ? `precision bf16: ${moved.length} frozen weight tensors stored in bf16 (${(bytesSaved / 2 ** 20).toFixed(0)} MiB saved)` : '';
  },
};

export const PRECISIONS: Record<PrecisionName, Precision> = { fp32, amp_bf16: ampBf16, bf16 };

/** The precision named `name`; throws naming the valid ones. */
export function getPrecision(name: string): Precision {
  if (!PRECISION_NAMES.includes(name as PrecisionName)) throw new Error(`unknown precision '${name}' (expected one of ${PRECISION_NAMES.join(', ')})`);
  return PRECISIONS[name as PrecisionName];
}

/** For `altclip info`: one line per precision saying what it computes on this machine and backend. */
export function precisionInfoLines(): string[] {
  return PRECISION_NAMES.map((n) => PRECISIONS[n].support().line);
}
