/**
 * SentencePiece's Normalizer::Normalize, on UTF-8 bytes: user-defined symbols pass through untouched,
 * otherwise the longest charsmap rule applies, then whitespace handling (strip / collapse runs of ' '),
 * the dummy prefix and the ' ' -> '▁' escape.
 */
import { Charsmap, parseCharsmap } from './charsmap';
import { NormalizerSpec } from './proto';

const SPACE = 0x20;
const SPACE_SYMBOL = [0xe2, 0x96, 0x81]; // U+2581 '▁'
const REPLACEMENT = Uint8Array.of(0xef, 0xbf, 0xbd);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Byte length of the UTF-8 character at bytes[pos], or 0 if it is malformed. */
export function utf8CharLen(bytes: Uint8Array, pos: number, end: number): number {
  const b = bytes[pos];
  let n: number;
  let min: number;
  if (b < 0x80) return 1;
  else if (b >= 0xc2 && b <= 0xdf) { n = 2; min = 0x80; }
  else if (b >= 0xe0 && b <= 0xef) { n = 3; min = 0x800; }
  else if (b >= 0xf0 && b <= 0xf4) { n = 4; min = 0x10000; }
  else return 0;
  if (pos + n > end) return 0;
  let cp = b & (0xff >> (n + 1));
  for (let i = 1; i < n; i++) {
    const c = bytes[pos + i];
    if ((c & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

export class Normalizer {
  private charsmap: Charsmap | null;
  /** user-defined symbols as UTF-8, longest first, for the prefix matcher */
  private userDefined: Uint8Array[];

  constructor(readonly spec: NormalizerSpec, userDefinedSymbols: string[] = [], readonly treatWhitespaceAsSuffix = false) {
    const blob = spec.precompiledCharsmap;
    this.charsmap = blob && blob.length > 0 ? parseCharsmap(blob) : null;
    this.userDefined = userDefinedSymbols.map((s) => encoder.encode(s)).sort((a, b) => b.length - a.length);
  }

  /** Returns [replacement bytes, consumed byte count] for the prefix of bytes[pos..end). */
  private normalizePrefix(bytes: Uint8Array, pos: number, end: number): [Uint8Array, number] {
    for (const u of this.userDefined) {
      if (u.length > 0 && pos + u.length <= end && u.every((b, i) => bytes[pos + i] === b)) return [u, u.length];
    }
    if (this.charsmap) {
      const m = this.charsmap.longestMatch(bytes, pos, end);
      if (m) return [m[1], m[0]];
    }
    const n = utf8CharLen(bytes, pos, end);
    if (n === 0) return [REPLACEMENT, 1]; // malformed byte: U+FFFD, consume one byte
    return [bytes.subarray(pos, pos + n), n];
  }

  /** Normalizes a string the way SentencePieceProcessor::Encode does before segmentation. */
  normalize(text: string): string {
    const input = encoder.encode(text);
    const spec = this.spec;
    const out: number[] = [];
    const end = input.length;
    let pos = 0;
    const addWs = () => {
      if (spec.escapeWhitespaces) out.push(...SPACE_SYMBOL);
      else out.push(SPACE);
    };
    if (spec.removeExtraWhitespaces) {
      while (pos < end) {
        const [r, n] = this.normalizePrefix(input, pos, end);
        if (!(r.length === 1 && r[0] === SPACE)) break;
        pos += n;
      }
    }
    if (pos >= end) return '';
    if (!this.treatWhitespaceAsSuffix && spec.addDummyPrefix) addWs();
    let isPrevSpace = spec.removeExtraWhitespaces;
    while (pos < end) {
      const [r, n] = this.normalizePrefix(input, pos, end);
      let i = 0;
      // drop leading spaces of this piece when the previous piece ended with a space
      while (isPrevSpace && i < r.length && r[i] === SPACE) i++;
      if (i < r.length) {
        for (; i < r.length; i++) {
          if (spec.escapeWhitespaces && r[i] === SPACE) out.push(...SPACE_SYMBOL);
          else out.push(r[i]);
        }
        isPrevSpace = r[r.length - 1] === SPACE;
      }
      pos += n;
      if (!spec.removeExtraWhitespaces) isPrevSpace = false;
    }
    if (spec.removeExtraWhitespaces) {
      const sp = spec.escapeWhitespaces ? SPACE_SYMBOL : [SPACE];
      while (out.length >= sp.length && sp.every((b, k) => out[out.length - sp.length + k] === b)) out.length -= sp.length;
    }
    if (this.treatWhitespaceAsSuffix && spec.addDummyPrefix) addWs();
    return decoder.decode(Uint8Array.from(out));
  }
}
