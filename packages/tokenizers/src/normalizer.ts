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

/** A growable byte buffer reused across calls (normalisation runs millions of times). */
class ByteSink {
  buf = new Uint8Array(1024);
  len = 0;
  push(b: number): void {
    if (this.len === this.buf.length) this.grow(1);
    this.buf[this.len++] = b;
  }
  pushAll(src: Uint8Array, from: number, to: number): void {
    if (this.len + (to - from) > this.buf.length) this.grow(to - from);
    for (let i = from; i < to; i++) this.buf[this.len++] = src[i];
  }
  private grow(extra: number): void {
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

export class Normalizer {
  private charsmap: Charsmap | null;
  /** user-defined symbols as UTF-8, longest first, for the prefix matcher */
  private userDefined: Uint8Array[];
  private input = new Uint8Array(1024);
  private out = new ByteSink();
  // the current prefix's replacement: rep[repFrom..repTo), consuming `consumed` input bytes
  private rep: Uint8Array = REPLACEMENT;
  private repFrom = 0;
  private repTo = 0;

  constructor(readonly spec: NormalizerSpec, userDefinedSymbols: string[] = [], readonly treatWhitespaceAsSuffix = false) {
    const blob = spec.precompiledCharsmap;
    this.charsmap = blob && blob.length > 0 ? parseCharsmap(blob) : null;
    this.userDefined = userDefinedSymbols.map((s) => encoder.encode(s)).sort((a, b) => b.length - a.length);
  }

  /** Sets this.rep* to the normalized form of the prefix of bytes[pos..end) and returns the bytes consumed. */
  private normalizePrefix(bytes: Uint8Array, pos: number, end: number): number {
    const b = bytes[pos];
    const cm = this.charsmap;
    if (b < 0x80 && (cm === null || cm.asciiIdentity[b]) && this.userDefined.length === 0) {
      this.rep = bytes;
      this.repFrom = pos;
      this.repTo = pos + 1;
      return 1;
    }
    for (const u of this.userDefined) {
      if (pos + u.length <= end && u.every((x, i) => bytes[pos + i] === x)) {
        this.rep = u;
        this.repFrom = 0;
        this.repTo = u.length;
        return u.length;
      }
    }
    if (cm) {
      const m = cm.match(bytes, pos, end);
      if (m > 0) {
        this.rep = cm.replacement;
        this.repFrom = 0;
        this.repTo = cm.replacement.length;
        return m;
      }
    }
    const n = utf8CharLen(bytes, pos, end);
    if (n === 0) {
      // malformed byte: U+FFFD, consume one byte
      this.rep = REPLACEMENT;
      this.repFrom = 0;
      this.repTo = 3;
      return 1;
    }
    this.rep = bytes;
    this.repFrom = pos;
    this.repTo = pos + n;
    return n;
  }

  private isSpaceOnly(): boolean {
    return this.repTo - this.repFrom === 1 && this.rep[this.repFrom] === SPACE;
  }

  /** Normalizes a string the way SentencePieceProcessor::Encode does before segmentation. */
  normalize(text: string): string {
    if (this.input.length < text.length * 3) this.input = new Uint8Array(text.length * 3 + 16);
    const input = this.input;
    const end = encoder.encodeInto(text, input).written;
    const spec = this.spec;
    const out = this.out;
    out.len = 0;
    let pos = 0;
    const addWs = () => {
      if (spec.escapeWhitespaces) for (const b of SPACE_SYMBOL) out.push(b);
      else out.push(SPACE);
    };
    if (spec.removeExtraWhitespaces) {
      while (pos < end) {
        const n = this.normalizePrefix(input, pos, end);
        if (!this.isSpaceOnly()) break;
        pos += n;
      }
    }
    if (pos >= end) return '';
    if (!this.treatWhitespaceAsSuffix && spec.addDummyPrefix) addWs();
    let isPrevSpace = spec.removeExtraWhitespaces;
    while (pos < end) {
      const n = this.normalizePrefix(input, pos, end);
      const r = this.rep;
      let i = this.repFrom;
      const to = this.repTo;
      // drop leading spaces of this piece when the previous piece ended with a space
      while (isPrevSpace && i < to && r[i] === SPACE) i++;
      if (i < to) {
        for (; i < to; i++) {
          if (spec.escapeWhitespaces && r[i] === SPACE) for (const b of SPACE_SYMBOL) out.push(b);
          else out.push(r[i]);
        }
        isPrevSpace = r[to - 1] === SPACE;
      }
      pos += n;
      if (!spec.removeExtraWhitespaces) isPrevSpace = false;
    }
    if (spec.removeExtraWhitespaces) {
      const sp = spec.escapeWhitespaces ? SPACE_SYMBOL : [SPACE];
      while (out.len >= sp.length && sp.every((b, k) => out.buf[out.len - sp.length + k] === b)) out.len -= sp.length;
    }
    if (this.treatWhitespaceAsSuffix && spec.addDummyPrefix) addWs();
    return decoder.decode(out.buf.subarray(0, out.len));
  }
}
