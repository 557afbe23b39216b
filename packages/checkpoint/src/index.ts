export * from './types';
export { openSafetensors, writeSafetensors, decodeRaw, CheckpointError } from './safetensors';
export { atomicWriteFile } from './atomic';
