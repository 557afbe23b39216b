import * as fs from 'fs';
import * as path from 'path';
import { CheckpointReader, TensorData, TensorInfo } from './types';
import { CheckpointError } from './errors';
import { badRepoPath } from './hub/guard';

/**
 * Opens a sharded checkpoint from its index (`model.safetensors.index.json` or `pytorch_model.bin.index.json`:
 * {"metadata": {...}, "weight_map": {key: shard file}}). Every shard is opened (headers only) and checked to hold
 * the keys the index assigns to it.
 */
export async function openSharded(indexFile: string, openFile: (file: string) => Promise<CheckpointReader>): Promise<CheckpointReader> {
  let text: string;
  try {
    text = await fs.promises.readFile(indexFile, 'utf8');
  } catch (e: any) {
    throw new CheckpointError(indexFile, e.code === 'ENOENT' ? 'file not found' : `cannot read (${e.message})`);
  }
  let index: any;
  try {
    index = JSON.parse(text);
  } catch (e: any) {
    throw new CheckpointError(indexFile, `invalid JSON (${e.message})`);
  }
  const wm = index?.weight_map;
  if (!wm || typeof wm !== 'object' || Array.isArray(wm)) throw new CheckpointError(indexFile, 'no "weight_map" object in the index');
  const dir = path.dirname(indexFile);
  const shardOf = new Map<string, string>();
  for (const [k, v] of Object.entries(wm)) {
    if (typeof v !== 'string' || !v) throw new CheckpointError(indexFile, `weight_map['${k}'] is not a file name`);
    // The index may come from a downloaded repository: its names must not reach files outside this folder.
    const why = badRepoPath(v);
    if (why) throw new CheckpointError(indexFile, `weight_map['${k}'] = ${JSON.stringify(v)} is not a file of this folder (${why})`);
    shardOf.set(k, v);
  }
  const shards = new Map<string, CheckpointReader>();
  try {
    for (const shard of new Set(shardOf.values())) shards.set(shard, await openFile(path.join(dir, shard)));
    for (const [k, shard] of shardOf)
      if (!shards.get(shard)!.has(k)) throw new CheckpointError(indexFile, `key '${k}' is listed in the index but missing in its shard ${path.join(dir, shard)}`);
  } catch (e) {
    await Promise.all([...shards.values()].map((s) => s.close()));
    throw e;
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(index.metadata ?? {})) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return new ShardedReader(indexFile, shardOf, shards, metadata);
}

class ShardedReader implements CheckpointReader {
  readonly format = 'sharded' as const;
  constructor(readonly path: string, private shardOf: Map<string, string>, private shards: Map<string, CheckpointReader>, readonly metadata: Record<string, string>) {}
  keys(): string[] {
    return [...this.shardOf.keys()];
  }
  has(key: string): boolean {
    return this.shardOf.has(key);
  }
  info(key: string): TensorInfo {
    return this.shard(key).info(key);
  }
  read(key: string): Promise<TensorData> {
    return this.shard(key).read(key);
  }
  async close(): Promise<void> {
    await Promise.all([...this.shards.values()].map((s) => s.close()));
  }
  private shard(key: string): CheckpointReader {
    const s = this.shardOf.get(key);
    if (s === undefined) throw new CheckpointError(this.path, `no tensor named '${key}'`);
    return this.shards.get(s)!;
  }
}
