import { cpuSegmentSumPatch, wasmSegmentSumPatch } from './segment-sum';
import { wasmBatchMatMulPatch, wasmFusedMatMulPatch } from './wasm-matmul';
import { wasmConv2DBackpropFilterPatch } from './conv2d-backprop-filter';
import { wasmIdentityPatch } from './wasm-identity';
import { cpuBatchMatMulPatch } from './cpu-matmul';
import type { KernelPatch } from './registry';

export { applyPatches, removePatches, appliedPatches } from './registry';
export type { KernelPatch } from './registry';

/** Every kernel this package adds or replaces; applied by setupBackend() for each loaded backend. */
export const KERNEL_PATCHES: KernelPatch[] = [
  wasmBatchMatMulPatch,
  wasmFusedMatMulPatch,
  wasmSegmentSumPatch,
  wasmConv2DBackpropFilterPatch,
  wasmIdentityPatch,
  cpuSegmentSumPatch,
  cpuBatchMatMulPatch,
];
