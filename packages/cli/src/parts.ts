/**
 * Part files of `--shard i/N` runs (eval zeroshot, eval retrieval, embed) and `mergeParts`, which checks that a set of
 * them is every part of one run and hands them, in shard order, to the merger of their kind. A part is a safetensors
 * file: the rows its shard computed, plus a header (metadata `altclip_part`) saying what kind of output it belongs to,
 * which shard it is, which rows of each axis it was cut along it holds, and the settings of its run.
 */
import * as fs from 'fs';
import { openSafetensors, writeSafetensors } from '@altclip/checkpoint';
import type { Shard } from '@altclip/data';

export const PART_KEY = 'altclip_part';

export interface PartHeader {
  format: 'altclip-part';
  version: 1;
  kind: string;
  shard: Shard;
  /** Each axis the run was cut along (e.g. images, texts): this part's positions [lo, hi) of `total`. */
  cuts: Record<string, { range: [number, number]; total: number }>;
  /** What makes the run (model, data, templates, batch size, backend, ...): equal on every part of one run. */
  run: Record<string, unknown>;
  /** This part's own values (counts, timings, skipped items). */
  own: Record<string, unknown>;
}

export interface PartTensor {
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface Part {
  file: string;
  header: PartHeader;
  tensors: Map<string, PartTensor>;
}

/** Writes a part (atomically); returns the file. */
export async function writePart(file: string, header: Omit<PartHeader, 'format' | 'version'>, tensors: Map<string, PartTensor>): Promise<string> {
  await writeSafetensors(file, tensors, { [PART_KEY]: JSON.stringify({ format: 'altclip-part', version: 1, ...header }) });
  return file;
}

export async function readPart(file: string): Promise<Part> {
  if (!fs.existsSync(file)) throw new Error(`merge: ${file} not found`);
  if (fs.statSync(file).isDirectory()) throw new Error(`merge: ${file} is a folder; eval and embed parts are files (<out>.shard-0000-of-0004, ...)`);
  const r = await openSafetensors(file).catch((e: Error) => {
    throw new Error(`merge: ${file} is not a part of a --shard run (${e.message})`, { cause: e });
  });
  try {
    const raw = r.metadata[PART_KEY];
    if (!raw) throw new Error(`merge: ${file} is not a part of a --shard run (no '${PART_KEY}' metadata)`);
    const header = JSON.parse(raw) as PartHeader;
    if (header.format !== 'altclip-part' || header.version !== 1) throw new Error(`merge: ${file}: unknown part format ${header.format} v${header.version}`);
    const tensors = new Map<string, PartTensor>();
    for (const k of r.keys()) {
      const t = await r.read(k);
      tensors.set(k, { shape: t.shape, data: t.data as Float32Array | Int32Array }); // parts hold F32 and I32 tensors only
    }
    return { file, header, tensors };
  } finally {
    await r.close();
  }
}

/** Concatenates one tensor of every part along its first axis, in part order. */
export function concatRows(parts: Part[], name: string): PartTensor {
  const ts = parts.map((p) => {
    const t = p.tensors.get(name);
    if (!t) throw new Error(`merge: ${p.file} has no tensor '${name}'`);
    return t;
  });
  const rest = ts.find((t) => t.shape[0] > 0)?.shape.slice(1) ?? ts[0].shape.slice(1);
  const rows = ts.reduce((s, t) => s + t.shape[0], 0);
  const n = ts.reduce((s, t) => s + t.data.length, 0);
  const data = ts[0].data instanceof Int32Array ? new Int32Array(n) : new Float32Array(n);
  ts.reduce((o, t) => (data.set(t.data, o), o + t.data.length), 0);
  return { shape: [rows, ...rest], data };
}

/** Writes the merged output of a complete, checked set of parts (in shard order) to `out`; returns the files written. */
export type PartMerger = (parts: Part[], out: string) => Promise<string[]>;

/** The first setting of the run in which two parts differ, or undefined. */
function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>): string | undefined {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].find((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

const show = (v: unknown) => JSON.stringify(v)?.slice(0, 120);

/** Refuses parts of different runs or sharding (naming the file and the setting), and duplicate shards. */
function checkSameRun(parts: Part[]): void {
  const [p0, h0] = [parts[0], parts[0].header];
  const seen = new Map<number, Part>();
  for (const p of parts) {
    const h = p.header;
    if (h.kind !== h0.kind) throw new Error(`merge: ${p.file} is a part of '${h.kind}', ${p0.file} of '${h0.kind}'`);
    if (h.shard.count !== h0.shard.count) throw new Error(`merge: ${p.file} is shard ${h.shard.index}/${h.shard.count}, ${p0.file} shard ${h0.shard.index}/${h0.shard.count}: parts of runs cut into different numbers of shards`);
    const k = firstDifference(h.run, h0.run);
    if (k !== undefined) throw new Error(`merge: ${p.file} and ${p0.file} are parts of different runs: ${k} ${show(h.run[k])} vs ${show(h0.run[k])}`);
    const prev = seen.get(h.shard.index);
    if (prev) throw new Error(`merge: ${prev.file} and ${p.file} are both shard ${h.shard.index}/${h.shard.count}`);
    seen.set(h.shard.index, p);
  }
}

/** Refuses a set with shards missing, or whose rows along each cut do not tile [0, total) once in shard order. */
function checkComplete(ordered: Part[]): void {
  const h0 = ordered[0].header;
  const n = h0.shard.count;
  const have = new Set(ordered.map((p) => p.header.shard.index));
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !have.has(i));
  if (missing.length) throw new Error(`merge: ${missing.length} of ${n} shards missing (${missing.slice(0, 10).map((i) => `${i}/${n}`).join(', ')}${missing.length > 10 ? ', ...' : ''}); give every part the run wrote`);
  for (const [axis, { total }] of Object.entries(h0.cuts)) {
    let next = 0;
    for (const p of ordered) {
      const c = p.header.cuts[axis];
      if (!c || c.total !== total) throw new Error(`merge: ${p.file} was cut over ${c?.total ?? 'no'} ${axis}, ${ordered[0].file} over ${total}`);
      if (c.range[0] !== next) throw new Error(`merge: ${p.file} holds ${axis} [${c.range[0]}, ${c.range[1]}), but the parts before it end at ${next}: ${c.range[0] < next ? 'overlapping' : 'a gap between'} parts`);
      next = c.range[1];
    }
    if (next !== total) throw new Error(`merge: the parts hold ${axis} up to ${next} of ${total}`);
  }
}

/**
 * Checks that `files` are every part of one --shard run (one kind, same settings, shards 0..N-1 once each, rows tiling
 * every cut) and writes with the merger of their kind what the unsharded run writes to `out`.
 */
export async function mergeParts(files: string[], out: string, mergers: Record<string, PartMerger>): Promise<{ kind: string; parts: number; files: string[] }> {
  if (!files.length) throw new Error('merge: no part files given');
  const parts = await Promise.all(files.map(readPart));
  const kind = parts[0].header.kind;
  const merge = mergers[kind];
  if (!merge) throw new Error(`merge: ${parts[0].file} is a part of '${kind}', which this version cannot merge (it merges ${Object.keys(mergers).join(', ')})`);
  checkSameRun(parts);
  const ordered = [...parts].sort((a, b) => a.header.shard.index - b.header.shard.index);
  checkComplete(ordered);
  return { kind, parts: ordered.length, files: await merge(ordered, out) };
}
