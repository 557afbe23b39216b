import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import * as tf from '@tensorflow/tfjs-core';
import { atomicWriteFile, openSafetensors, writeSafetensors, TensorToWrite } from '@altclip/checkpoint';
import type { AdamW } from './adamw';

/**
 * Run folder layout:
 *   <run>/config.json            resolved configuration (written at start)
 *   <run>/metrics.jsonl          one JSON object per logged step / evaluation
 *   <run>/tensorboard/           TensorBoard event files (with the tensorboard logger)
 *   <run>/checkpoints/step-<N>/  model files (HF layout), optimizer.safetensors, trainer_state.json
 *   <run>/checkpoints/latest     name of the newest complete checkpoint (updated last)
 */
export interface TrainerState {
  step: number;
  epoch: number;
  /** Batches of `epoch` already consumed. */
  batchInEpoch: number;
  samplesSeen: number;
  /** Samples in the training set (a resumed run over other data would not continue the same order). */
  dataSize?: number;
  /** Data order and dropout are pure functions of (seed, epoch, step), so the seed is the whole RNG state. */
  seed: number;
  configHash: string;
  time: string;
}

export function configHash(config: unknown): string {
  return crypto.createHash('sha256').update(stableJson(config)).digest('hex').slice(0, 16);
}

function stableJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(stableJson).join(',')}]`;
  if (x && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(x) ?? 'null';
}

/**
 * Creates (or, when resuming, reopens) a run folder. A folder that already holds a run is refused unless resuming,
 * so a second run never overwrites the first one's checkpoints.
 */
export function prepareRunDir(dir: string, resuming: boolean): void {
  if (fs.existsSync(dir)) {
    const entries = fs.readdirSync(dir).filter((e) => !e.startsWith('.'));
    if (entries.length && !resuming)
      throw new Error(`run folder ${dir} already exists and is not empty; pass --resume latest to continue it, or choose another --out/--name`);
  } else if (resuming) {
    throw new Error(`cannot resume: run folder ${dir} does not exist`);
  }
  fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
}

/** Resolves `latest`, a run folder or a checkpoint folder to a checkpoint folder. */
export function resolveCheckpoint(runDir: string, which: string): string {
  const fromRun = (d: string) => {
    const latest = path.join(d, 'checkpoints', 'latest');
    if (!fs.existsSync(latest)) throw new Error(`cannot resume: ${latest} not found (no complete checkpoint in ${d})`);
    return path.join(d, 'checkpoints', fs.readFileSync(latest, 'utf8').trim());
  };
  let ck: string;
  if (which === 'latest') ck = fromRun(runDir);
  else if (fs.existsSync(path.join(which, 'trainer_state.json'))) ck = which;
  else if (fs.existsSync(path.join(which, 'checkpoints'))) ck = fromRun(which);
  else throw new Error(`cannot resume from ${which}: not a checkpoint folder (no trainer_state.json) nor a run folder`);
  if (!fs.existsSync(path.join(ck, 'trainer_state.json'))) throw new Error(`cannot resume: ${ck} has no trainer_state.json`);
  return ck;
}

/** Writes a whole parameter map as one safetensors file (the default model saver, and for toy models). */
export async function saveParams(file: string, params: Map<string, tf.Variable>): Promise<void> {
  const tensors = new Map<string, TensorToWrite>();
  for (const [k, v] of params) tensors.set(k, { shape: v.shape, data: (await v.data()) as Float32Array });
  await writeSafetensors(file, tensors, { format: 'pt' });
}

/** Assigns every parameter from the model safetensors file(s) in `dir`; every key of `params` must be present. */
export async function loadParams(dir: string, params: Map<string, tf.Variable>): Promise<void> {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors') && f !== 'optimizer.safetensors');
  const missing = new Set(params.keys());
  for (const f of files) {
    const r = await openSafetensors(path.join(dir, f));
    try {
      for (const k of r.keys()) {
        const v = params.get(k);
        if (!v) continue;
        const t = await r.read(k);
        if (t.shape.join(',') !== v.shape.join(',')) throw new Error(`${path.join(dir, f)}: '${k}' has shape [${t.shape}], model expects [${v.shape}]`);
        tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, v.shape, 'float32')));
        missing.delete(k);
      }
    } finally {
      await r.close();
    }
  }
  if (missing.size) throw new Error(`checkpoint ${dir} lacks ${missing.size} parameter(s), e.g. '${[...missing][0]}'`);
}

export interface SaveCheckpointArgs {
  runDir: string;
  state: TrainerState;
  optimizer: AdamW;
  saveModel: (dir: string) => Promise<void>;
  keepLast?: number;
  /** Test hook: called after the model files are written, before the checkpoint is committed. */
  beforeCommit?: (tmpDir: string) => Promise<void> | void;
}

/**
 * Writes checkpoints/step-<N>/ under a temporary name, renames it into place, then updates `latest`; a crash at any
 * point leaves the previous checkpoint and `latest` intact. Older checkpoints beyond keepLast are removed after.
 */
export async function saveCheckpoint(a: SaveCheckpointArgs): Promise<string> {
  const ckRoot = path.join(a.runDir, 'checkpoints');
  const name = `step-${a.state.step}`;
  const final = path.join(ckRoot, name);
  const tmp = path.join(ckRoot, `.tmp-${name}-${process.pid}`);
  await fs.promises.rm(tmp, { recursive: true, force: true });
  await fs.promises.mkdir(tmp, { recursive: true });
  await a.saveModel(tmp);
  const opt = await a.optimizer.stateDict();
  await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), opt.tensors, opt.metadata);
  await atomicWriteFile(path.join(tmp, 'trainer_state.json'), [JSON.stringify(a.state, null, 2) + '\n']);
  await a.beforeCommit?.(tmp);
  if (fs.existsSync(final)) await fs.promises.rm(final, { recursive: true, force: true });
  await fs.promises.rename(tmp, final);
  await atomicWriteFile(path.join(ckRoot, 'latest'), [name + '\n']);
  if (a.keepLast && a.keepLast > 0) await pruneCheckpoints(ckRoot, a.keepLast, name);
  return final;
}

async function pruneCheckpoints(ckRoot: string, keep: number, current: string): Promise<void> {
  const steps = fs
    .readdirSync(ckRoot)
    .map((e) => /^step-(\d+)$/.exec(e))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => Number(m[1]))
    .sort((x, y) => y - x);
  for (const s of steps.slice(keep)) if (`step-${s}` !== current) await fs.promises.rm(path.join(ckRoot, `step-${s}`), { recursive: true, force: true });
  // Leftovers of interrupted writes.
  for (const e of fs.readdirSync(ckRoot)) if (e.startsWith('.tmp-step-')) await fs.promises.rm(path.join(ckRoot, e), { recursive: true, force: true });
}

/** Reads a checkpoint's trainer state and restores the optimizer's moments. The model is restored by the caller. */
export async function loadCheckpoint(ck: string, optimizer: AdamW): Promise<TrainerState> {
  const state: TrainerState = JSON.parse(fs.readFileSync(path.join(ck, 'trainer_state.json'), 'utf8'));
  const file = path.join(ck, 'optimizer.safetensors');
  const r = await openSafetensors(file);
  try {
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const k of r.keys()) {
      const t = await r.read(k);
      tensors.set(k, { shape: t.shape, data: t.data as Float32Array });
    }
    optimizer.loadState((k) => tensors.get(k), r.metadata, file);
  } finally {
    await r.close();
  }
  return state;
}

/** Appends JSON lines to metrics.jsonl; on resume, lines past the resumed step are dropped first. */
export class MetricsLog {
  constructor(readonly file: string) {}
  truncateAfter(step: number): void {
    if (!fs.existsSync(this.file)) return;
    const keep = fs
      .readFileSync(this.file, 'utf8')
      .split('\n')
      .filter((l) => {
        if (!l.trim()) return false;
        try {
          return JSON.parse(l).step <= step;
        } catch {
          return false; // a torn last line from a crash
        }
      });
    const tmp = `${this.file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, keep.map((l) => l + '\n').join(''));
    fs.renameSync(tmp, this.file); // a crash here leaves the old file, never half of one
  }
  write(rec: Record<string, unknown>): void {
    fs.appendFileSync(this.file, JSON.stringify(rec) + '\n');
  }
}

export const LOGGERS = ['jsonl', 'tensorboard'] as const;
export type LoggerName = (typeof LOGGERS)[number];

/** `--logger` ("tensorboard", "jsonl,tensorboard" or a list); metrics.jsonl is always written (resume and reports read it). */
export function parseLoggers(v: unknown): Set<LoggerName> {
  const out = new Set<LoggerName>(['jsonl']);
  if (v === undefined || v === null) return out;
  const items = (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(',')).map((x) => x.trim()).filter(Boolean);
  for (const x of items) {
    if (!(LOGGERS as readonly string[]).includes(x)) throw new Error(`--logger: unknown logger '${x}' (choose from ${LOGGERS.join(', ')})`);
    out.add(x as LoggerName);
  }
  return out;
}
