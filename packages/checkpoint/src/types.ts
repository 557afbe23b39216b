/** dtypes as safetensors names them; PyTorch storages map onto the same names. */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** What a tensor is, before reading its bytes. */
export interface TensorInfo {
  dtype: DType;
  shape: number[];
}

/**
 * A tensor read from a checkpoint, converted to what tfjs can hold:
 * floats -> float32, integers -> int32 (range-checked), U8/BOOL -> uint8.
 */
export interface TensorData {
  dtype: 'float32' | 'int32' | 'uint8';
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** Uniform access to any checkpoint format; tensors are read one at a time (never the whole file). */
export interface CheckpointReader {
  readonly path: string;
  readonly format: 'safetensors' | 'pytorch' | 'sharded';
  /** `__metadata__` of a safetensors file (empty for other formats). */
  readonly metadata: Record<string, string>;
  keys(): string[];
  has(key: string): boolean;
  info(key: string): TensorInfo;
  read(key: string): Promise<TensorData>;
  close(): Promise<void>;
}

/**
 * A tensor to write. float32 data is written as F32, int32 as I32, uint8 as U8 unless `dtype` says otherwise;
 * a TensorData (dtype 'float32' | 'int32' | 'uint8') can be passed as is.
 */
export interface TensorToWrite {
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
  dtype?: DType | TensorData['dtype'];
}

/**
 * A tensor whose values are produced only when the writer reaches it, so a multi-GB model is written tensor by
 * tensor without all values in memory (dtype and shape are needed up front for the header).
 */
export interface LazyTensor {
  shape: number[];
  dtype: DType;
  load(): Promise<Float32Array | Int32Array | Uint8Array>;
}

export interface WriteProgress {
  name: string;
  tensorsDone: number;
  tensorsTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface WriteOptions {
  /** Called after each tensor is written. */
  onProgress?: (p: WriteProgress) => void;
}
