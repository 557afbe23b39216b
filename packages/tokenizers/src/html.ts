/** Python's html.unescape (CPython 3 html/__init__.py semantics) and the Windows-1252 table it shares. */
import { HTML5_ENTITIES } from './html-entities';

/**
 * Characters of bytes 0x80..0x9f in "sloppy" Windows-1252: the five undefined bytes map to the C1 control
 * with the same number (what both html.unescape's invalid-charref table and ftfy's sloppy codec do).
 */
export const CP1252_HIGH = '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function isInvalidCodepoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

function replaceCharref(ref: string): string {
  if (ref[0] === '#') {
    const hex = ref[1] === 'x' || ref[1] === 'X';
    const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
    const num = parseInt(digits, hex ? 16 : 10);
    if (num === 0) return '\ufffd';
    if (num === 0x0d) return '\r';
    if (num >= 0x80 && num <= 0x9f) return CP1252_HIGH[num - 0x80];
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
    if (isInvalidCodepoint(num)) return '';
    return String.fromCodePoint(num);
  }
  const hit = HTML5_ENTITIES[ref];
  if (hit !== undefined) return hit;
  // longest legacy name that is a prefix, e.g. "&ampx" -> "&x"
  const cps = Array.from(ref);
  for (let x = cps.length - 1; x > 1; x--) {
    const head = cps.slice(0, x).join('');
    const v = HTML5_ENTITIES[head];
    if (v !== undefined) return v + cps.slice(x).join('');
  }
  return '&' + ref;
}

/** Python's html.unescape(s). */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF_RE, (_m, ref: string) => replaceCharref(ref));
}
