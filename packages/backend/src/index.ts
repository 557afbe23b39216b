export * from './setup';
export { appliedPatches, KERNEL_PATCHES } from './kernels';
export type { KernelPatch } from './kernels';
export { registerGradients } from './gradients';
export { backendInfo } from './info';
export type { BackendInfo } from './info';
