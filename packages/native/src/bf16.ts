/**
 * bf16 kernels (csrc/sgemm.h gemmBuiltin with bf16 products, csrc/bf16_napi.cc), registered with the fused ones on
 * `native` and on `wasm` with the addon. tfjs has no bf16 dtype, so a bf16 tensor is carried as an int32 tensor of
 * ceil(n / 2) elements holding the n 16-bit values in order (two per element, little-endian); its logical shape
 * travels beside it (the kernels' attrs). @altclip/models' precision layer (precision.ts) uses them:
 *
 *   AltclipToBf16    {x float32 [...]}                     -> int32 [ceil(n / 2)]   (round to nearest even)
 *   AltclipFromBf16  {x int32 [ceil(n / 2)]} {shape}       -> float32 shape
 *   AltclipGemmBf16  {a, b, bias? [N]} {transposeA, transposeB, aShape?, bShape?}
 *                    -> float32 [M, N] = op(a) op(b) (+ bias): bf16 products, float32 accumulation. a and b are 2-D
 *                       float32 (rounded while packed) or bf16 (int32-carried, logical 2-D shape in aShape/bShape).
 *
 * None has a gradient: precision.ts builds the linear layer's forward and backward from these in one tf.customGrad.
 */
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { GEMM_TYPES } from './addon';
import type { Impl } from './kernels';

export const BF16_KERNEL_NAMES = { toBf16: 'AltclipToBf16', fromBf16: 'AltclipFromBf16', gemm: 'AltclipGemmBf16' } as const;
const K = BF16_KERNEL_NAMES;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The logical 2-D shape of a gemm operand: its own when float32, attrs[key] when it carries bf16 in int32. */
function operandShape(t: TensorInfo, attrs: NamedAttrMap, key: string): { shape: number[]; bf16: boolean } | null {
  if (t.dtype === 'float32') return t.shape.length === 2 ? { shape: t.shape, bf16: false } : null;
  const shape = attrs[key] as number[] | undefined;
  if (t.dtype !== 'int32' || !shape || shape.length !== 2 || Math.ceil(size(shape) / 2) !== size(t.shape)) return null;
  return { shape, bf16: true };
}

const toBf16: Impl = (addon, host, { x }) => {
  if (!x || x.dtype !== 'float32') return null;
  const n = size(x.shape);
  const out = host.output([Math.ceil(n / 2)], 'int32');
  addon.toBf16(host.heap(), host.offset(x), host.offset(out), n);
  return out;
};

const fromBf16: Impl = (addon, host, { x }, attrs) => {
  const shape = attrs.shape as number[];
  if (!x || x.dtype !== 'int32' || Math.ceil(size(shape) / 2) !== size(x.shape)) return null;
  const out = host.output(shape, 'float32');
  addon.fromBf16(host.heap(), host.offset(x), host.offset(out), size(shape));
  return out;
};

const gemmBf16: Impl = (addon, host, { a, b, bias }, attrs) => {
  const A = a && operandShape(a, attrs, 'aShape');
  const B = b && operandShape(b, attrs, 'bShape');
  if (!A || !B || (bias && bias.dtype !== 'float32')) return null;
  const tA = !!attrs.transposeA, tB = !!attrs.transposeB;
  const [M, Ka] = tA ? [A.shape[1], A.shape[0]] : A.shape;
  const [Kb, N] = tB ? [B.shape[1], B.shape[0]] : B.shape;
  if (Ka !== Kb) throw new Error(`${K.gemm}: inner dimensions differ: [${A.shape}]${tA ? '^T' : ''} x [${B.shape}]${tB ? '^T' : ''}`);
  if (bias && size(bias.shape) !== N) throw new Error(`${K.gemm}: bias has ${size(bias.shape)} values for ${N} columns`);
  const out = host.output([M, N], 'float32');
  const types = (A.bf16 ? GEMM_TYPES.aBf16 : 0) | (B.bf16 ? GEMM_TYPES.bBf16 : 0) | GEMM_TYPES.bf16Compute;
  const o = host.offset;
  addon.gemm(host.heap(), o(a!), o(b!), o(out), M, N, Ka, tA, tB, 1, 0, 0, null, null, bias ? o(bias) : -1, bias ? N : 0, 0, 0, types);
  return out;
};

export const BF16_KERNELS: Record<string, { impl: Impl; what: string }> = {
  [K.toBf16]: { impl: toBf16, what: 'float32 -> bf16 (round to nearest even), two per int32' },
  [K.fromBf16]: { impl: fromBf16, what: 'bf16 -> float32' },
  [K.gemm]: { impl: gemmBf16, what: `bf16 GEMM, float32 accumulation (conversion fused into packing)` },
};
