import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { backendFields } from './fields';
/**
 * The `tensorflow` backend: @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (TensorFlow's own kernels through
 * its C API). Both are optional dependencies whose install downloads libtensorflow 2.9.1; without internet,
 * `npm run setup:tensorflow` builds tfjs-node against the C API of the tensorflow-cpu wheel instead (it then
 * reports that TensorFlow version).
 */
export const TENSORFLOW_INSTALL_HINT =
  'run `npm run setup:tensorflow` (builds @tensorflow/tfjs-node against the tensorflow-cpu wheel, no download from Google), or with internet `npm install @tensorflow/tfjs-node` (GPU: @tensorflow/tfjs-node-gpu)';

const PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** What `npm run setup:tensorflow` leaves beside the binding (scripts/setup-tensorflow.js). */
interface LocalBuild {
  version: string;
  wheel?: string;
}

export interface TensorflowInfo {
  package: string;
  /** The package's version (4.22.0). */
  tfjsNode: string;
  /** TensorFlow's own version as its C API reports it (TF_Version): 2.9.1 from npm, 2.21.0 from setup:tensorflow. */
  tensorflow: string;
  /** Where that libtensorflow came from. */
  library: string;
  device: 'GPU' | 'CPU';
  /** TensorFlow's intra-op threads: TF_NUM_INTRAOP_THREADS, else its default (one per CPU). */
  threads: number;
}

/**
 * Defaults that only apply when the user has not set them: TensorFlow's INFO log lines (CPU feature banner) off;
 * on a GPU, memory allocated as needed, not nearly all of it at start-up (two test workers or a training and an
 * eval process could not share the device otherwise), and float32 matmuls/convolutions in full float32: Ampere and
 * newer GPUs would otherwise use TF32 (10-bit mantissa, ~1e-3 relative error), where PyTorch's default matmul does
 * not. NVIDIA_TF32_OVERRIDE=1 gives TF32 back (faster, less exact).
 */
function tensorflowEnvDefaults(threads?: number): void {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  process.env.TF_FORCE_GPU_ALLOW_GROWTH ??= 'true';
  process.env.NVIDIA_TF32_OVERRIDE ??= '0';
  // TensorFlow sizes its intra-op pool once, when the first context is made (default: every CPU).
  if (threads) process.env.TF_NUM_INTRAOP_THREADS ??= String(threads);
}

let loaded: string | undefined;

/**
 * Requires tfjs-node-gpu, else tfjs-node (which registers the `tensorflow` backend and makes it current); returns
 * the package name. Throws naming both failures and what to install. `threads`: TensorFlow's intra-op threads
 * (TF_NUM_INTRAOP_THREADS wins; only the first load in a process can set it).
 */
export function loadTensorflow(threads?: number): string {
  if (loaded) return loaded;
  tensorflowEnvDefaults(threads);
  const errors: string[] = [];
  for (const pkg of PACKAGES) {
    try {
      require(pkg);
      loaded = pkg;
      return pkg;
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0];
      errors.push((e as { code?: string }).code === 'MODULE_NOT_FOUND' && msg.includes(`'${pkg}'`) ? `${pkg} is not installed` : `${pkg}: ${msg}`);
    }
  }
  throw new Error(`${errors.join('; ')}; ${TENSORFLOW_INSTALL_HINT}`);
}

/** Whether the `tensorflow` backend can be loaded here, and if not why (for tests that skip and say so). */
export function tensorflowStatus(): { available: true } | { available: false; why: string } {
  const prev = tf.engine().backendName; // loading tfjs-node switches the current backend: put it back
  try {
    loadTensorflow();
    return { available: true };
  } catch (e) {
    return { available: false, why: (e as Error).message };
  } finally {
    if (prev && prev !== tf.engine().backendName) tf.setBackend(prev);
  }
}

function readLocalBuild(pkgDir: string): LocalBuild | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(pkgDir, 'deps', 'built-against.json'), 'utf8')) as LocalBuild;
  } catch {
    return undefined;
  }
}

/** The loaded tfjs-node's TensorFlow version, library and device; undefined until the backend is loaded. */
export function tensorflowInfo(): TensorflowInfo | undefined {
  const backend = backendFields<{ binding: { TF_Version?: string }; isUsingGpuDevice: boolean }>(tf.findBackend('tensorflow'));
  if (!loaded || !backend?.binding) return undefined;
  const pkgDir = path.dirname(require.resolve(`${loaded}/package.json`));
  const local = readLocalBuild(pkgDir);
  return {
    package: loaded,
    tfjsNode: (require(`${loaded}/package.json`) as { version: string }).version,
    tensorflow: backend.binding.TF_Version ?? 'unknown',
    library: local
      ? `built by npm run setup:tensorflow against the C API of ${local.wheel ?? `tensorflow-cpu ${local.version}`}`
      : `libtensorflow downloaded by ${loaded}'s install`,
    device: backend.isUsingGpuDevice ? 'GPU' : 'CPU',
    threads: Number(process.env.TF_NUM_INTRAOP_THREADS) || os.cpus().length,
  };
}
