import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * A python that imports `modules`: the one named by the environment variable `envVar`, else /opt/torch2/bin/python,
 * else python3; undefined (after printing why, so a skipped test says so) when none does.
 */
export function findPython(envVar: string, modules: string[], testName: string): string | undefined {
  const candidates = process.env[envVar] ? [process.env[envVar]!] : ['/opt/torch2/bin/python', 'python3'];
  const probe = `import ${modules.join(', ')}`;
  const found = candidates.find((p) => spawnSync(p, ['-c', probe], { stdio: 'ignore' }).status === 0);
  if (!found) console.warn(`${testName}: skipped (no python that can \`${probe}\`; tried ${candidates.join(', ')}; set ${envVar})`);
  return found;
}

/** Spec of one folder for test-utils/python/hf_load.py. */
export interface HfLoadSpec {
  dir: string;
  texts: string[];
  /** also load AutoProcessor (and run it on a picture when image_size is set) */
  processor?: boolean;
  image_size?: number;
  /** also return tokenizer.json as transformers' XLMRobertaConverter builds it from sentencepiece.bpe.model */
  xlmr_converter?: boolean;
}

export interface HfLoadResult {
  dir: string;
  tokenizer: string;
  vocab_size: number;
  model_max_length: number;
  ids: number[][];
  processor?: string;
  processor_tokenizer?: string;
  pixel_values_shape?: number[];
  processor_ids?: number[][];
  /** null where protobuf (which the converter needs) is missing */
  converter?: Record<string, unknown> | null;
}

/**
 * Runs hf_load.py: transformers' AutoTokenizer (and AutoProcessor) on each folder. Python gets a temporary
 * folder of its own, removed afterwards (importing torch leaves a torchinductor_<user> cache in TMPDIR).
 */
export function hfLoad(python: string, specs: HfLoadSpec[]): { transformers: string; folders: HfLoadResult[] } {
  const script = path.join(__dirname, 'python', 'hf_load.py');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'altclip-hf-load-'));
  try {
    const env = { ...process.env, TMPDIR: tmp, PYTHONDONTWRITEBYTECODE: '1' };
    const r = spawnSync(python, [script], { input: JSON.stringify(specs), encoding: 'utf8', maxBuffer: 256 << 20, env });
    if (r.status !== 0) throw new Error(`${python} ${script} exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
