/**
 * SentencePiece BPE segmentation (bpe_model.cc): start from characters (user-defined symbols stay whole
 * and never merge), repeatedly merge the adjacent pair whose concatenation is a vocabulary piece with the
 * highest score (leftmost on ties), then split UNUSED pieces back into the pair they were merged from.
 */

export interface BpeVocab {
  pieceToId: (piece: string) => number | undefined;
  scores: Float32Array;
  isUnused: (id: number) => boolean;
  unkId: number;
  /** user-defined symbols, longest first */
  userDefined: string[];
}

export function bpeEncode(vocab: BpeVocab, normalized: string): Array<[string, number]> {
  const syms: string[] = [];
  const frozen: boolean[] = [];
  for (let i = 0; i < normalized.length; ) {
    const ud = vocab.userDefined.find((u) => u.length > 0 && normalized.startsWith(u, i));
    if (ud) {
      syms.push(ud);
      frozen.push(true);
      i += ud.length;
    } else {
      const ch = String.fromCodePoint(normalized.codePointAt(i)!);
      syms.push(ch);
      frozen.push(false);
      i += ch.length;
    }
  }
  // remembers how an UNUSED piece was formed so it can be re-split at the end
  const revMerge = new Map<string, [string, string]>();
  for (;;) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i + 1 < syms.length; i++) {
      if (frozen[i] || frozen[i + 1]) continue;
      const merged = syms[i] + syms[i + 1];
      const id = vocab.pieceToId(merged);
      if (id === undefined) continue;
      if (vocab.isUnused(id)) revMerge.set(merged, [syms[i], syms[i + 1]]);
      const s = vocab.scores[id];
      if (best < 0 || s > bestScore) {
        best = i;
        bestScore = s;
      }
    }
    if (best < 0) break;
    syms.splice(best, 2, syms[best] + syms[best + 1]);
    frozen.splice(best, 2, false);
  }
  const out: Array<[string, number]> = [];
  const resegment = (w: string): void => {
    const id = vocab.pieceToId(w);
    if (id !== undefined && vocab.isUnused(id)) {
      const pair = revMerge.get(w);
      if (pair) {
        resegment(pair[0]);
        resegment(pair[1]);
        return;
      }
    }
    out.push([w, id ?? vocab.unkId]);
  };
  for (const s of syms) resegment(s);
  return out;
}
