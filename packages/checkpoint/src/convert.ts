import * as fs from 'fs';
import * as path from 'path';
import { DType, LazyTensor, WriteProgress } from './types';
import { CheckpointError } from './errors';
import { openCheckpoint } from './open';
import { writeSafetensors } from './safetensors';
import { fixHfConfigFloats, HF_FLOAT_FIELDS } from './hf-config';
import { assertFiniteWeights, assertFitsDtype } from './finite';

export interface ConvertOptions {
  /** dtype of floating-point tensors in the output (integer and bool tensors keep theirs). Default F32. */
  dtype?: 'F32' | 'F16' | 'BF16';
  onProgress?: (p: WriteProgress) => void;
  /** Copy NaN/Inf weights (and let values overflow to Inf in a narrower dtype); default: the --allow-nonfinite setting. */
  allowNonFinite?: boolean;
}

export interface ConvertResult {
  input: string; // the checkpoint file or index that was read
  output: string; // the safetensors file written
  tensors: number;
  bytes: number;
  copied: string[]; // side files copied next to the output (folder conversion)
}

const FLOATS = new Set<DType>(['F32', 'F64', 'F16', 'BF16']);
/** Config, tokenizer and preprocessor files worth carrying over to the converted folder. */
const SIDE_FILE = /\.(json|txt|model|gz)$/;
const CHECKPOINT_FILE = /(\.index\.json|\.bin|\.safetensors|\.pt|\.pth|\.ckpt|\.h5|\.msgpack)$/;

/**
 * Copies a model config.json. One of a model type we know gets integer literals in its float fields written as
 * floats (folders saved before that fix, e.g. `"initializer_factor": 1`, fail to load in transformers >= 5); the
 * rest of the file is copied byte for byte.
 */
function copyConfig(src: string, dest: string): void {
  const text = fs.readFileSync(src, 'utf8');
  let modelType: unknown;
  try {
    modelType = JSON.parse(text).model_type;
  } catch {
    modelType = undefined; // not ours to judge: copy it as it is
  }
  if (typeof modelType === 'string' && HF_FLOAT_FIELDS[modelType]) fs.writeFileSync(dest, fixHfConfigFloats(text));
  else fs.copyFileSync(src, dest);
}

/**
 * Converts any readable checkpoint (torch .bin, sharded, safetensors) to one model.safetensors, tensor by tensor
 * (only one tensor's values are in memory at a time). A folder input gives a folder output with config and
 * tokenizer/preprocessor files copied; a file input writes `output` (or output/model.safetensors for a folder).
 */
export async function convertToSafetensors(input: string, output: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const target = opts.dtype ?? 'F32';
  const inIsDir = fs.existsSync(input) && fs.statSync(input).isDirectory();
  const outIsDir = inIsDir || (fs.existsSync(output) && fs.statSync(output).isDirectory()) || /[\\/]$/.test(output);
  const outFile = outIsDir ? path.join(output, 'model.safetensors') : output;
  const reader = await openCheckpoint(input);
  try {
    if (path.resolve(reader.path) === path.resolve(outFile)) throw new CheckpointError(outFile, 'refusing to overwrite the input checkpoint');
    const tensors = new Map<string, LazyTensor>();
    let bytes = 0;
    for (const k of reader.keys()) {
      const { dtype, shape } = reader.info(k);
      const out: DType = FLOATS.has(dtype) ? target : dtype;
      // NaN/Inf refused as every command that loads weights does, and values the output dtype would turn into Inf.
      const load = async () => {
        const { data } = await reader.read(k);
        if (FLOATS.has(dtype)) {
          assertFiniteWeights(data, k, reader.path, opts.allowNonFinite);
          if (out !== dtype) assertFitsDtype(data, k, reader.path, out, opts.allowNonFinite);
        }
        return data;
      };
      tensors.set(k, { shape, dtype: out, load });
    }
    // transformers refuses safetensors without a framework tag; keep whatever else the source carried
    const metadata: Record<string, string> = { ...reader.metadata, format: reader.metadata.format ?? 'pt' };
    if (reader.format === 'sharded') delete metadata.total_size;
    const outDirExisted = fs.existsSync(path.dirname(path.resolve(outFile)));
    await writeSafetensors(outFile, tensors, metadata, {
      onProgress: (p) => {
        bytes = p.bytesTotal;
        opts.onProgress?.(p);
      },
    }).catch((e) => {
      // A refused tensor (NaN/Inf) or a full disk: leave nothing behind, not even the folder made for the output.
      if (!outDirExisted) fs.rmSync(path.dirname(path.resolve(outFile)), { recursive: true, force: true });
      throw e;
    });
    const copied: string[] = [];
    if (inIsDir && path.resolve(input) !== path.resolve(output)) {
      for (const name of fs.readdirSync(input).sort()) {
        const src = path.join(input, name);
        if (!SIDE_FILE.test(name) || CHECKPOINT_FILE.test(name) || name.startsWith('.') || !fs.statSync(src).isFile()) continue;
        if (name === 'config.json') copyConfig(src, path.join(output, name));
        else fs.copyFileSync(src, path.join(output, name));
        copied.push(name);
      }
    }
    return { input: reader.path, output: outFile, tensors: tensors.size, bytes, copied };
  } finally {
    await reader.close();
  }
}
