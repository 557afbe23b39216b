import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as os from 'os';
import {
  atomicWriteFile, freeBytes, isNoSpaceError, mib, openSafetensors, pidAlive, removeStaleTempFiles, safetensorsProblem, writeSafetensors, TensorToWrite,
} from '@altclip/checkpoint';
import { assertFiniteWeights } from '@altclip/models';
import type { AdamW } from './adamw';

/**
 * Run folder layout:
 *   <run>/config.json            resolved configuration (written at start)
 *   <run>/metrics.jsonl          one JSON object per logged step / evaluation
 *   <run>/tensorboard/           TensorBoard event files (with the tensorboard logger)
 *   <run>/checkpoints/step-<N>/  model files (HF layout), optimizer.safetensors, trainer_state.json
 *   <run>/checkpoints/latest     name of the newest complete checkpoint (updated last)
 *   <run>/.lock                  pid and host of the process training in the folder (while it runs)
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
  /** The data source's position after the last step (a stream's shard, offset and shuffle state; see sources/). */
  data?: unknown;
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
 * Creates (or, when resuming, reopens) a run folder and takes its lock (see lockRunDir); returns the release
 * function. A folder that already holds a run is refused unless resuming, so a second run never overwrites the
 * first one's checkpoints. The lock comes before anything is written, so a refused process leaves no trace.
 */
export function prepareRunDir(dir: string, resuming: boolean, log?: (line: string) => void): () => void {
  if (fs.existsSync(dir)) {
    const entries = fs.readdirSync(dir).filter((e) => !e.startsWith('.'));
    if (entries.length && !resuming)
      throw new Error(
        `run folder ${dir} already exists and is not empty; pass --resume latest to continue it` +
          `${hasCheckpoint(dir) ? '' : ' (it holds no checkpoint yet, so that starts it again from scratch)'}, or choose another --out/--name`,
      );
  } else if (resuming) {
    throw new Error(`cannot resume: run folder ${dir} does not exist`);
  }
  fs.mkdirSync(dir, { recursive: true });
  const release = lockRunDir(dir, log);
  fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
  const removed = removeRunLeftovers(dir);
  if (removed.length) log?.(`removed ${removed.length} temporary file(s) left by an interrupted process: ${removed.map((f) => path.relative(dir, f)).join(', ')}`);
  return release;
}

/** `.tmp-step-<N>-<pid>`: a checkpoint being written by process <pid> (saveCheckpoint). */
const TMP_CHECKPOINT = /^\.tmp-step-\d+-(\d+)$/;
/** `metrics.jsonl.tmp-<pid>`: MetricsLog.truncateAfter's rewrite. */
const TMP_METRICS = /^metrics\.jsonl\.tmp-(\d+)$/;

/**
 * Removes what writers killed mid-write (kill -9, power loss) leave in a run folder: half-written checkpoint folders,
 * atomicWrite temp files (`.model.safetensors.tmp-*` in final/ or the run folder) and metrics rewrites, all of
 * processes that no longer run. They are never read, but a checkpoint-sized folder per failure fills a disk.
 */
export function removeRunLeftovers(runDir: string): string[] {
  const removed: string[] = [];
  const dropDead = (dir: string, re: RegExp) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir)) {
      const m = re.exec(e);
      if (!m || pidAlive(Number(m[1]))) continue;
      fs.rmSync(path.join(dir, e), { recursive: true, force: true });
      removed.push(path.join(dir, e));
    }
  };
  const ckRoot = path.join(runDir, 'checkpoints');
  dropDead(ckRoot, TMP_CHECKPOINT);
  dropDead(runDir, TMP_METRICS);
  for (const d of [runDir, ckRoot, path.join(runDir, 'final')]) removed.push(...removeStaleTempFiles(d));
  return removed;
}

/** Reads a JSON file; errors name the file (a bare "Unexpected end of JSON input" does not say which). */
export function readJsonFile<T>(file: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})${text.length ? '' : ': the file is empty'}`, { cause: e });
  }
}

/** What is wrong with a checkpoint folder (missing files, unreadable trainer state), or undefined if it looks complete. */
export function checkpointProblem(ck: string): string | undefined {
  const stateFile = path.join(ck, 'trainer_state.json');
  if (!fs.existsSync(ck)) return `${ck} does not exist`;
  if (!fs.existsSync(stateFile)) return `${ck} has no trainer_state.json`;
  try {
    const st = readJsonFile<TrainerState>(stateFile);
    if (typeof st?.step !== 'number' || typeof st.seed !== 'number') return `${stateFile}: no numeric 'step'/'seed'`;
  } catch (e) {
    return (e as Error).message;
  }
  if (!fs.existsSync(path.join(ck, 'optimizer.safetensors'))) return `${ck} has no optimizer.safetensors`;
  const files = fs.readdirSync(ck).filter((f) => f.endsWith('.safetensors'));
  if (!files.some((f) => f !== 'optimizer.safetensors')) return `${ck} has no model .safetensors file`;
  // A file cut short (a copy or a disk that filled, outside our atomic writes) fails only when its tensors are read.
  for (const f of files) {
    const p = safetensorsProblem(path.join(ck, f));
    if (p) return p;
  }
  return undefined;
}

/** Whether a run folder holds any checkpoint, complete or not (`checkpoints/latest` or a step-<N> folder). */
function hasCheckpoint(runDir: string): boolean {
  const ckRoot = path.join(runDir, 'checkpoints');
  return fs.existsSync(path.join(ckRoot, 'latest')) || stepFolders(ckRoot).length > 0;
}

/** step-<N> folders of a run, newest first. */
function stepFolders(ckRoot: string): string[] {
  if (!fs.existsSync(ckRoot)) return [];
  return fs
    .readdirSync(ckRoot)
    .map((e) => /^step-(\d+)$/.exec(e))
    .filter((m): m is RegExpExecArray => !!m)
    .sort((x, y) => Number(y[1]) - Number(x[1]))
    .map((m) => path.join(ckRoot, m[0]));
}

/**
 * Resolves `latest`, a run folder or a checkpoint folder to a checkpoint folder. When a run's `latest` is unreadable
 * or names a broken checkpoint, the newest complete one is used instead (with a warning through `log`).
 */
export function resolveCheckpoint(runDir: string, which: string, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): string {
  const fromRun = (d: string) => {
    const ckRoot = path.join(d, 'checkpoints');
    const latest = path.join(ckRoot, 'latest');
    let problem: string;
    if (fs.existsSync(latest)) {
      const name = fs.readFileSync(latest, 'utf8').trim();
      const ck = path.join(ckRoot, name);
      if (!/^step-\d+$/.test(name)) problem = `${latest} is corrupt (holds ${JSON.stringify(name.slice(0, 40))}, not a step-<N> name)`;
      else {
        const p = checkpointProblem(ck);
        if (!p) return ck;
        problem = `${latest} names a broken checkpoint: ${p}`;
      }
    } else problem = `${latest} not found`;
    for (const ck of stepFolders(ckRoot)) {
      if (checkpointProblem(ck)) continue;
      log(`warning: ${problem}; resuming from the newest complete checkpoint ${ck} instead`);
      return ck;
    }
    throw new Error(`cannot resume: ${problem}, and ${ckRoot} holds no other complete checkpoint`);
  };
  let ck: string;
  if (which === 'latest') ck = fromRun(runDir);
  else if (fs.existsSync(path.join(which, 'trainer_state.json'))) ck = which;
  else if (fs.existsSync(path.join(which, 'checkpoints'))) ck = fromRun(which);
  else throw new Error(`cannot resume from ${which}: not a checkpoint folder (no trainer_state.json) nor a run folder`);
  const p = checkpointProblem(ck);
  if (p) throw new Error(`cannot resume from ${ck}: ${p}`);
  return ck;
}

/**
 * What `--resume` continues from: a checkpoint folder (see resolveCheckpoint), or undefined when `which` is 'latest'
 * or a run folder that holds no checkpoint at all: the run was stopped before its first one, so nothing is lost by
 * starting it again from scratch (logged). A run folder whose checkpoints are all broken is still an error.
 */
export function resolveResume(runDir: string, which: string, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): string | undefined {
  const isRunFolder = (d: string) => !fs.existsSync(path.join(d, 'trainer_state.json')) && fs.existsSync(path.join(d, 'checkpoints'));
  const run = which === 'latest' ? runDir : isRunFolder(which) ? which : undefined;
  if (run !== undefined && fs.existsSync(run) && !hasCheckpoint(run)) {
    log(`${run} holds no checkpoint (the run was stopped before its first one): starting it from scratch`);
    return undefined;
  }
  return resolveCheckpoint(runDir, which, log);
}

/** Where a run folder's lock lives. */
export function lockFile(runDir: string): string {
  return path.join(runDir, '.lock');
}

/**
 * Takes `<run>/.lock` (pid, host, start time) so that two processes never train in one run folder: the second one
 * would overwrite checkpoints and duplicate metrics.jsonl lines. A lock left by a process that no longer runs (same
 * host) is stale and replaced. Returns the release function (also run at process exit).
 */
export function lockRunDir(runDir: string, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): () => void {
  const file = lockFile(runDir);
  const body = JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() }) + '\n';
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, body, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
    }
    let holder: { pid?: number; host?: string; started?: string } = {};
    try {
      holder = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      // torn or foreign content: treated as stale below
    }
    const sameHost = !holder.host || holder.host === os.hostname();
    if (typeof holder.pid === 'number' && (!sameHost || pidAlive(holder.pid)))
      throw new Error(
        `run folder ${runDir} is in use by process ${holder.pid}${sameHost ? '' : ` on ${holder.host}`} (since ${holder.started ?? '?'}); ` +
          `wait for it to finish or stop it. If that process is gone, delete ${file}`,
      );
    log(`warning: removing the stale lock ${file} (process ${holder.pid ?? '?'} no longer runs)`);
    fs.rmSync(file, { force: true });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      const cur = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (cur.pid === process.pid) fs.rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
  process.on('exit', release);
  return release;
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
        assertFiniteWeights(t.data as Float32Array, k, path.join(dir, f));
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
  optimizer: Pick<AdamW, 'stateDict'>;
  saveModel: (dir: string) => Promise<void>;
  keepLast?: number;
  /** Bytes saveModel writes (all parameters at their stored dtypes), for the space a checkpoint needs when a disk fills. */
  modelBytes?: number;
  /** Test hook: called after the model files are written, before the checkpoint is committed. */
  beforeCommit?: (tmpDir: string) => Promise<void> | void;
}

/**
 * Writes checkpoints/step-<N>/ under a temporary name, renames it into place, then updates `latest`; a crash at any
 * point leaves the previous checkpoint and `latest` intact. A failed write removes its temporary folder (a full disk
 * gets an error naming the file and the space a checkpoint needs). Older checkpoints beyond keepLast go after.
 */
export async function saveCheckpoint(a: SaveCheckpointArgs): Promise<string> {
  const ckRoot = path.join(a.runDir, 'checkpoints');
  const name = `step-${a.state.step}`;
  const final = path.join(ckRoot, name);
  const tmp = path.join(ckRoot, `.tmp-${name}-${process.pid}`);
  const opt = await a.optimizer.stateDict();
  try {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    await fs.promises.mkdir(tmp, { recursive: true });
    await a.saveModel(tmp);
    await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), opt.tensors, opt.metadata);
    await atomicWriteFile(path.join(tmp, 'trainer_state.json'), [JSON.stringify(a.state, null, 2) + '\n']);
    await a.beforeCommit?.(tmp);
  } catch (e) {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    if (!isNoSpaceError(e)) throw e;
    throw Object.assign(new Error(`cannot write checkpoint ${name}: ${(e as Error).message}. ${await spaceAdvice(ckRoot, opt.tensors.values(), a.modelBytes)}`), {
      code: (e as NodeJS.ErrnoException).code,
      cause: e,
    });
  }
  if (fs.existsSync(final)) await fs.promises.rm(final, { recursive: true, force: true });
  await fs.promises.rename(tmp, final);
  await atomicWriteFile(path.join(ckRoot, 'latest'), [name + '\n']);
  if (a.keepLast && a.keepLast > 0) await pruneCheckpoints(ckRoot, a.keepLast, name);
  return final;
}

/**
 * What a full disk needs to take a checkpoint: the optimizer's moments (exact, from their shapes) plus the model
 * (`modelBytes`, else the newest complete checkpoint's model files, else at least the trained parameters in f32).
 */
async function spaceAdvice(ckRoot: string, moments: Iterable<{ shape: number[] }>, modelBytes?: number): Promise<string> {
  let optBytes = 0;
  for (const t of moments) optBytes += 4 * t.shape.reduce((x, y) => x * y, 1);
  let model = modelBytes;
  let atLeast = false;
  const prev = stepFolders(ckRoot).find((ck) => !checkpointProblem(ck));
  if (model === undefined && prev)
    model = fs.readdirSync(prev).filter((f) => f !== 'optimizer.safetensors').reduce((n, f) => n + fs.statSync(path.join(prev, f)).size, 0);
  if (model === undefined) [model, atLeast] = [optBytes / 2, true];
  const free = await freeBytes(ckRoot);
  return (
    `A checkpoint needs ${atLeast ? 'at least ' : 'about '}${mib(model + optBytes)} (model ${mib(model)}, optimizer ${mib(optBytes)})` +
    `${free !== undefined ? `; ${mib(free)} are free there` : ''}. The partial checkpoint was removed; ` +
    `${prev ? `the last complete one is ${prev}` : 'no complete checkpoint exists yet'}. Free some space (or lower --keep-last), then continue with --resume latest`
  );
}

async function pruneCheckpoints(ckRoot: string, keep: number, current: string): Promise<void> {
  const steps = fs
    .readdirSync(ckRoot)
    .map((e) => /^step-(\d+)$/.exec(e))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => Number(m[1]))
    .sort((x, y) => y - x);
  for (const s of steps.slice(keep)) if (`step-${s}` !== current) await fs.promises.rm(path.join(ckRoot, `step-${s}`), { recursive: true, force: true });
  // Leftovers of interrupted writes (of processes that no longer run: pid reuse can only keep one, never lose one).
  for (const e of fs.readdirSync(ckRoot)) {
    const m = TMP_CHECKPOINT.exec(e);
    if (m && !pidAlive(Number(m[1]))) await fs.promises.rm(path.join(ckRoot, e), { recursive: true, force: true });
  }
}

/** Reads a checkpoint's trainer state and restores the optimizer's moments. The model is restored by the caller. */
export async function loadCheckpoint(ck: string, optimizer: Pick<AdamW, 'loadState'>): Promise<TrainerState> {
  const state = readJsonFile<TrainerState>(path.join(ck, 'trainer_state.json'));
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
