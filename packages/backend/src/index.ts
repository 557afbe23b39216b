export * from './setup';
export { appliedPatches, KERNEL_PATCHES } from './kernels';
export type { KernelPatch } from './kernels';
export { broadcastBatchIndex } from './kernels/wasm-matmul';
export { registerGradients } from './gradients';
export { backendInfo } from './info';
export type { BackendInfo } from './info';
export { nativeInfo, NATIVE_INSTALL_HINT } from './native';
export type { NativeInfo } from './native';
