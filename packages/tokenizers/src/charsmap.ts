/**
 * SentencePiece's precompiled normalisation map: `<u32 LE trie size><Darts double-array trie><NUL-separated
 * replacement strings>`. The trie is keyed by UTF-8 bytes; a leaf's value is the byte offset of the
 * replacement string in the string blob.
 */

export interface Charsmap {
  /**
   * Longest rule matching a prefix of bytes[pos..end): returns the matched byte length (0: no rule) and
   * leaves the replacement in `replacement` (no allocation per call).
   */
  match(bytes: Uint8Array, pos: number, end: number): number;
  replacement: Uint8Array;
  /** ASCII bytes that start no rule (they always map to themselves) */
  asciiIdentity: Uint8Array;
}

export function parseCharsmap(blob: Uint8Array): Charsmap {
  if (blob.length < 4) throw new Error(`precompiled_charsmap is ${blob.length} bytes, too short for its header`);
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const trieSize = dv.getUint32(0, true);
  if (trieSize % 4 !== 0 || 4 + trieSize > blob.length || trieSize === 0) {
    throw new Error(`precompiled_charsmap: trie size ${trieSize} does not fit the ${blob.length}-byte blob`);
  }
  const units = new Uint32Array(trieSize / 4);
  for (let i = 0; i < units.length; i++) units[i] = dv.getUint32(4 + 4 * i, true);
  const strings = blob.subarray(4 + trieSize);
  const cache = new Map<number, Uint8Array>();

  const replacement = (offset: number): Uint8Array => {
    let r = cache.get(offset);
    if (!r) {
      if (offset >= strings.length) throw new Error(`precompiled_charsmap: string offset ${offset} out of range`);
      let e = offset;
      while (e < strings.length && strings[e] !== 0) e++;
      r = strings.subarray(offset, e);
      cache.set(offset, r);
    }
    return r;
  };

  // Darts unit layout: bit 8 = has_leaf, low 8 bits (+ bit 31) = label, offset in bits 10..31 (scaled by bit 9).
  const offsetOf = (u: number) => (u >>> 10) << ((u & (1 << 9)) >>> 6);
  const hasLeaf = (u: number) => ((u >>> 8) & 1) === 1;
  const labelOf = (u: number) => u & ((1 << 31) | 0xff);
  const valueOf = (u: number) => u & 0x7fffffff;

  const cm: Charsmap = {
    replacement: new Uint8Array(0),
    asciiIdentity: new Uint8Array(128),
    match(bytes, pos, end) {
      let nodePos = offsetOf(units[0]);
      let best = 0;
      for (let i = pos; i < end; i++) {
        const c = bytes[i];
        nodePos ^= c;
        if (nodePos >= units.length) break;
        const unit = units[nodePos];
        if (labelOf(unit) >>> 0 !== c) break;
        nodePos ^= offsetOf(unit);
        if (hasLeaf(unit)) {
          if (nodePos >= units.length) break;
          best = i - pos + 1;
          cm.replacement = replacement(valueOf(units[nodePos]));
        }
      }
      return best;
    },
  };
  for (let b = 0; b < 128; b++) {
    const nodePos = offsetOf(units[0]) ^ b;
    cm.asciiIdentity[b] = nodePos < units.length && labelOf(units[nodePos]) >>> 0 === b ? 0 : 1;
  }
  return cm;
}
