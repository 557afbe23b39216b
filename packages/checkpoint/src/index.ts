export * from './types';
export { CheckpointError } from './errors';
export { openSafetensors, writeSafetensors, safetensorsProblem } from './safetensors';
export { decodeRaw, encodeRaw, DTYPE_BYTES } from './dtypes';
export {
  atomicWriteFile, atomicWrite, assertOutput, outputProblem, removeStaleTempFiles, isNoSpaceError, freeBytes, pidAlive, mib,
} from './atomic';
export type { AtomicWriteOptions } from './atomic';
export { openTorchBin } from './torch';
export { openSharded } from './sharded';
export { openCheckpoint, openCheckpointFile, loadStateDict, CHECKPOINT_FILES } from './open';
export type { LoadOptions } from './open';
export { gatherStrided, isContiguous, viewSpan } from './view';
export { convertToSafetensors } from './convert';
export type { ConvertOptions, ConvertResult } from './convert';
export * from './hub';
export { stringifyHfConfig, fixHfConfigFloats, HF_FLOAT_FIELDS } from './hf-config';
export { setAllowNonFiniteWeights, allowNonFiniteWeights, countNonFinite, assertFiniteWeights, assertFitsDtype } from './finite';
