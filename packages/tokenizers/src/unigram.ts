/**
 * SentencePiece unigram segmentation (unigram_model.cc, the optimised Viterbi): best path over all
 * vocabulary matches, float32 path scores, an unknown node of one character wherever no single-character
 * piece exists, ties kept by the first candidate found (shorter pieces are found first).
 */

const UNK_PENALTY = 10;

/**
 * Trie edges (parent node, code point) -> child node in an open-addressing hash table of typed arrays:
 * lookups allocate nothing, which matters at millions of captions.
 */
class EdgeTable {
  private parent: Int32Array;
  private cp: Int32Array;
  private child: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    const n = 1 << Math.ceil(Math.log2(Math.max(16, capacity * 2)));
    this.parent = new Int32Array(n).fill(-1);
    this.cp = new Int32Array(n);
    this.child = new Int32Array(n);
    this.mask = n - 1;
  }

  private slot(parent: number, cp: number): number {
    let h = (Math.imul(parent, 0x9e3779b1) ^ Math.imul(cp, 0x85ebca6b)) & this.mask;
    while (this.parent[h] !== -1 && (this.parent[h] !== parent || this.cp[h] !== cp)) h = (h + 1) & this.mask;
    return h;
  }

  get(parent: number, cp: number): number {
    const h = this.slot(parent, cp);
    return this.parent[h] === -1 ? -1 : this.child[h];
  }

  set(parent: number, cp: number, child: number): void {
    if ((this.size + 1) * 2 > this.mask) this.grow();
    const h = this.slot(parent, cp);
    if (this.parent[h] === -1) this.size++;
    this.parent[h] = parent;
    this.cp[h] = cp;
    this.child[h] = child;
  }

  private grow(): void {
    const { parent, cp, child } = this;
    const n = (this.mask + 1) * 2;
    this.parent = new Int32Array(n).fill(-1);
    this.cp = new Int32Array(n);
    this.child = new Int32Array(n);
    this.mask = n - 1;
    this.size = 0;
    for (let i = 0; i < parent.length; i++) if (parent[i] !== -1) this.set(parent[i], cp[i], child[i]);
  }
}

export enum Flag {
  Unused = 1,
  UserDefined = 2,
}

export class UnigramVocab {
  private edges = new EdgeTable();
  private nodeId: number[] = [-1]; // piece id at each trie node (-1: none); node 0 is the root
  readonly unkScore: number;
  readonly maxScore: number;
  // per-call work arrays, reused (grown on demand) so that encoding allocates almost nothing
  private cps = new Int32Array(256);
  private offs = new Int32Array(257);
  private bestScore = new Float64Array(257);
  private bestStart = new Int32Array(257);
  private bestId = new Int32Array(257);

  /**
   * pieces: every NORMAL / USER_DEFINED / UNUSED piece with its id; flags/scores/byteLength indexed by id.
   * min/max scores are over NORMAL pieces, as sentencepiece computes them.
   */
  constructor(
    pieces: Iterable<[string, number]>,
    readonly scores: Float32Array,
    readonly flags: Uint8Array,
    readonly byteLength: Int32Array,
    minScore: number,
    maxScore: number,
    readonly unkId: number,
  ) {
    for (const [piece, id] of pieces) this.insert(piece, id);
    this.unkScore = Math.fround(minScore - UNK_PENALTY);
    this.maxScore = Math.fround(maxScore);
  }

  private insert(key: string, id: number): void {
    let node = 0;
    for (let i = 0; i < key.length; i++) {
      const cp = key.codePointAt(i)!;
      if (cp > 0xffff) i++;
      let child = this.edges.get(node, cp);
      if (child === -1) {
        child = this.nodeId.length;
        this.nodeId.push(-1);
        this.edges.set(node, cp, child);
      }
      node = child;
    }
    this.nodeId[node] = id;
  }

  /**
   * Segments a normalized string. Returns flat triples [startCodeUnit, endCodeUnit, id, ...] (unknown
   * characters come one per node; the caller merges runs).
   */
  encode(normalized: string): Int32Array {
    const len = normalized.length;
    if (len === 0) return new Int32Array(0);
    // code points and their code-unit offsets
    if (this.cps.length < len) {
      this.cps = new Int32Array(len);
      this.offs = new Int32Array(len + 1);
      this.bestScore = new Float64Array(len + 1);
      this.bestStart = new Int32Array(len + 1);
      this.bestId = new Int32Array(len + 1);
    }
    const { cps, offs, bestScore, bestStart, bestId } = this;
    let n = 0;
    for (let i = 0; i < len; ) {
      const cp = normalized.codePointAt(i)!;
      cps[n] = cp;
      offs[n++] = i;
      i += cp > 0xffff ? 2 : 1;
    }
    offs[n] = len;
    bestScore[0] = 0;
    bestStart.fill(-1, 0, n + 1);
    const { edges, nodeId, scores, flags, maxScore, unkScore } = this;
    for (let start = 0; start < n; start++) {
      const base = bestScore[start];
      let hasSingle = false;
      let node = 0;
      for (let k = start; k < n; k++) {
        const next = edges.get(node, cps[k]);
        if (next === -1) break;
        node = next;
        const id = nodeId[node];
        if (id < 0 || flags[id] & Flag.Unused) continue;
        const end = k + 1;
        // sentencepiece computes this candidate in double (the ternary over the user-defined bonus is double)
        // but stores path scores as float: ties are broken by that rounding, so mirror it exactly.
        const score = flags[id] & Flag.UserDefined ? Math.fround(this.byteLength[id] * maxScore) - 0.1 : scores[id];
        const cand = score + base;
        if (bestStart[end] === -1 || cand > bestScore[end]) {
          bestScore[end] = Math.fround(cand);
          bestStart[end] = start;
          bestId[end] = id;
        }
        if (end === start + 1) hasSingle = true;
      }
      if (!hasSingle) {
        const end = start + 1;
        const cand = Math.fround(unkScore + base);
        if (bestStart[end] === -1 || cand > bestScore[end]) {
          bestScore[end] = cand;
          bestStart[end] = start;
          bestId[end] = this.unkId;
        }
      }
    }
    let count = 0;
    for (let end = n; end > 0; end = bestStart[end]) count++;
    const out = new Int32Array(count * 3);
    let j = count;
    for (let end = n; end > 0; end = bestStart[end]) {
      j--;
      out[3 * j] = offs[bestStart[end]];
      out[3 * j + 1] = offs[end];
      out[3 * j + 2] = bestId[end];
    }
    return out;
  }
}
