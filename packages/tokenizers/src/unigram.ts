/**
 * SentencePiece unigram segmentation (unigram_model.cc, the optimised Viterbi): best path over all
 * vocabulary matches, float32 path scores, an unknown node of one character wherever no single-character
 * piece exists, ties kept by the first candidate found (shorter pieces are found first).
 */

const UNK_PENALTY = 10;

export interface TrieNode {
  id: number;
  next: Map<number, TrieNode> | null;
}

export function newTrieNode(): TrieNode {
  return { id: -1, next: null };
}

export function trieInsert(root: TrieNode, key: string, id: number): void {
  let node = root;
  for (const ch of key) {
    const cp = ch.codePointAt(0)!;
    if (!node.next) node.next = new Map();
    let child = node.next.get(cp);
    if (!child) {
      child = newTrieNode();
      node.next.set(cp, child);
    }
    node = child;
  }
  node.id = id;
}

export interface UnigramVocab {
  trie: TrieNode;
  scores: Float32Array;
  isUnused: (id: number) => boolean;
  isUserDefined: (id: number) => boolean;
  /** UTF-8 byte length per id (user-defined bonus is per byte, as in sentencepiece) */
  byteLength: (id: number) => number;
  minScore: number;
  maxScore: number;
  unkId: number;
}

/** Segments a normalized string; returns [piece, id] pairs (unknown characters come one per node). */
export function unigramEncode(vocab: UnigramVocab, normalized: string): Array<[string, number]> {
  if (normalized.length === 0) return [];
  const cps = Array.from(normalized, (c) => c.codePointAt(0)!);
  const n = cps.length;
  const unkScore = Math.fround(vocab.minScore - UNK_PENALTY);
  const maxScore = Math.fround(vocab.maxScore);
  const bestScore = new Float64Array(n + 1);
  const bestStart = new Int32Array(n + 1).fill(-1);
  const bestId = new Int32Array(n + 1).fill(-1);
  for (let start = 0; start < n; start++) {
    const base = bestScore[start];
    let hasSingle = false;
    let node: TrieNode | undefined = vocab.trie;
    for (let k = start; k < n; k++) {
      node = node.next?.get(cps[k]);
      if (!node) break;
      const id = node.id;
      if (id < 0 || vocab.isUnused(id)) continue;
      const end = k + 1;
      // sentencepiece computes this candidate in double (the ternary over the user-defined bonus is double)
      // but stores path scores as float: ties are broken by that rounding, so mirror it exactly.
      const score = vocab.isUserDefined(id) ? Math.fround(vocab.byteLength(id) * maxScore) - 0.1 : vocab.scores[id];
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
        bestId[end] = vocab.unkId;
      }
    }
  }
  const out: Array<[string, number]> = [];
  for (let end = n; end > 0; ) {
    const start = bestStart[end];
    out.push([String.fromCodePoint(...cps.slice(start, end)), bestId[end]]);
    end = start;
  }
  return out.reverse();
}
