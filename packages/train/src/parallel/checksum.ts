import * as tf from '@tensorflow/tfjs-core';
import type { Collective } from '@altclip/mpi';
import { readTensor } from './tensor-io';

/**
 * A 32-bit hash of each tensor's raw float bits (one pass over the values, no tensor op). Ranks apply identical
 * updates to identical weights, so their weights agree bit for bit: any difference is a real divergence.
 */
export function weightChecksums(params: Map<string, tf.Tensor>): Float64Array {
  const out = new Float64Array(params.size);
  let i = 0;
  for (const t of params.values()) {
    const words = new Uint32Array(readTensor(t).buffer);
    let h = 0x811c9dc5 ^ words.length;
    for (let j = 0; j < words.length; j++) {
      h = Math.imul(h ^ words[j], 0x01000193);
      h ^= h >>> 15;
    }
    out[i++] = h >>> 0;
  }
  return out;
}

/**
 * Compares every rank's checksums of `params` with rank 0's. Returns undefined when all agree, else a message
 * naming the ranks that differ and the first parameter that does (the same message on every rank).
 */
export function compareAcrossRanks(params: Map<string, tf.Tensor>, c: Collective, what: string): string | undefined {
  if (c.size === 1) return undefined;
  const mine = weightChecksums(params);
  const ref = Float64Array.from(mine);
  c.broadcast(ref, 0, `weight checksums (${what})`);
  const keys = [...params.keys()];
  // Per rank: 1 + the index of its first differing parameter, 0 when all agree.
  const first = mine.findIndex((h, i) => h !== ref[i]);
  const diff = new Float64Array(c.size);
  diff[c.rank] = first + 1;
  c.allreduce(diff, `weight checksum comparison (${what})`);
  const bad = [...diff].map((d, r) => ({ r, d })).filter((x) => x.d > 0);
  if (!bad.length) return undefined;
  return (
    `the weights of rank${bad.length > 1 ? 's' : ''} ${bad.map((x) => x.r).join(', ')} differ from rank 0's ${what} ` +
    `(first differing parameter on rank ${bad[0].r}: '${keys[bad[0].d - 1]}'). The ranks no longer train the same model ` +
    `(a rank loaded other weights, or a reduction differed); stopping. Resume from the last checkpoint.`
  );
}
