export * from './setup';
export { appliedPatches, KERNEL_PATCHES } from './kernels';
export type { KernelPatch } from './kernels';
export { registerGradients } from './gradients';
