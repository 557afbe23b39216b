import * as fs from 'fs';
import * as path from 'path';
import { CheckpointReader, TensorData } from './types';
import { CheckpointError } from './errors';
import { openForRead, openSafetensors } from './safetensors';
import { openTorchBin, sniffTorch } from './torch';
import { openSharded } from './sharded';

/** What a model directory is searched for, in order of preference. */
export const CHECKPOINT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'];

/** Opens one checkpoint file, choosing the format by name (index.json) and by magic bytes. */
export async function openCheckpointFile(file: string): Promise<CheckpointReader> {
  if (file.endsWith('.index.json')) return openSharded(file, openCheckpointFile);
  const fh = await openForRead(file);
  let head: Buffer;
  try {
    head = Buffer.alloc(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    head = head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (sniffTorch(head)) return openTorchBin(file);
  // safetensors: an 8-byte little-endian header length, then a JSON object
  if (file.endsWith('.safetensors') || (head.length > 8 && head[8] === 0x7b)) return openSafetensors(file);
  throw new CheckpointError(file, 'unrecognised checkpoint format (expected safetensors, a torch.save zip, or an *.index.json)');
}

/**
 * Opens a checkpoint file or a model directory (model.safetensors, then model.safetensors.index.json,
 * pytorch_model.bin, pytorch_model.bin.index.json).
 */
export async function openCheckpoint(pathOrDir: string): Promise<CheckpointReader> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(pathOrDir);
  } catch {
    throw new CheckpointError(pathOrDir, 'file or directory not found');
  }
  if (!st.isDirectory()) return openCheckpointFile(pathOrDir);
  for (const name of CHECKPOINT_FILES) {
    const f = path.join(pathOrDir, name);
    if (fs.existsSync(f)) return openCheckpointFile(f);
  }
  throw new CheckpointError(pathOrDir, `no checkpoint in this directory (looked for ${CHECKPOINT_FILES.join(', ')})`);
}

export interface LoadOptions {
  /** Keep only the keys this accepts (a predicate or a RegExp tested against the key). */
  filter?: ((key: string) => boolean) | RegExp;
}

/** Reads every (selected) tensor of a checkpoint into memory, then closes it. */
export async function loadStateDict(pathOrDir: string, opts: LoadOptions = {}): Promise<Map<string, TensorData>> {
  const { filter } = opts;
  const keep = filter instanceof RegExp ? (k: string) => filter.test(k) : filter ?? (() => true);
  const reader = await openCheckpoint(pathOrDir);
  try {
    const out = new Map<string, TensorData>();
    for (const k of reader.keys()) if (keep(k)) out.set(k, await reader.read(k));
    return out;
  } finally {
    await reader.close();
  }
}
