/**
 * The parts of ftfy 6.x `fix_text` (default TextFixerConfig) that CLIP's basic_clean relies on:
 * HTML entities ('auto': skipped for a line that contains '<'), mojibake (UTF-8 read as Latin-1 or
 * Windows-1252, whole text or embedded runs), C1 controls, Latin ligatures, full-width/half-width forms,
 * curly quotes, line breaks, lone surrogates, terminal escapes, control characters, NFC. Each line is
 * fixed separately and every line is re-fixed until it stops changing, as ftfy does.
 *
 * Mojibake detection is ftfy's own heuristic (badness.ts); re-decoding is ported for Latin-1 and Windows-1252
 * only. Not ported: the other code pages ftfy tries (cp1251, cp1250, cp1253, cp1254, cp1257, iso-8859-2,
 * macroman, cp437), replace_lossy_sequences and the utf-8-variants (CESU-8) decoder.
 */
import { CP1252_HIGH, htmlUnescape } from './html';
import { HTML5_ENTITIES } from './html-entities';
import { isBad } from './badness';

// ---- HTML entities, ftfy flavour: only "&name;" / "&#..;" forms, plus upper-cased names like &EACUTE;
let ftfyEntities: Map<string, string> | null = null;
function entityTable(): Map<string, string> {
  if (ftfyEntities) return ftfyEntities;
  const m = new Map<string, string>();
  for (const [name, ch] of Object.entries(HTML5_ENTITIES)) {
    if (!name.endsWith(';')) continue;
    m.set('&' + name, ch);
    if (name === name.toLowerCase()) {
      const upper = '&' + name.toUpperCase();
      if (htmlUnescape(upper) === upper) m.set(upper, ch.toUpperCase());
    }
  }
  return (ftfyEntities = m);
}

const ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;
export function unescapeHtml(text: string): string {
  const table = entityTable();
  return text.replace(ENTITY_RE, (m) => {
    const hit = table.get(m);
    if (hit !== undefined) return hit;
    if (m.startsWith('&#')) {
      const u = htmlUnescape(m);
      return u.includes(';') ? m : u;
    }
    return m;
  });
}

// ---- mojibake
// Characters that bytes 0x80..0xbf become under Latin-1 / Windows-1252 (plus a space standing for 0xa0), and
// the "strict" subset that rarely stands for itself next to mojibake (no spaces, dashes, quotes, bullet, ellipsis).
const CONT = `\\x80-\\xbf ${CP1252_HIGH}`;
const CONT_STRICT = '\\x80-\\xbf\u20ac\u0192\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d\u02dc\u2122\u0161\u203a\u0153\u017e\u0178';
const UTF8_RUN_RE = new RegExp(
  `(?<![${CONT_STRICT}])(?:[\\xc2-\\xdf][${CONT}]|[\\xe0-\\xef][${CONT}]{2}|[\\xf0-\\xf4][${CONT}]{3})+`,
  'g',
);
const C1_RE = /[\x80-\x9f]/;
const C1_RE_G = /[\x80-\x9f]/g;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Encodes to Latin-1 or "sloppy" Windows-1252 bytes; null when some character has no byte. */
function encodeSingleByte(text: string, cp1252: boolean): Uint8Array | null {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80 || (c >= 0xa0 && c <= 0xff) || (!cp1252 && c <= 0xff)) out[i] = c;
    else {
      const k = cp1252 ? CP1252_HIGH.indexOf(text[i]) : -1;
      if (k < 0) return null;
      out[i] = 0x80 + k;
    }
  }
  return out;
}

/**
 * ftfy's restore_byte_a0: in mojibake, the 0xa0 of a UTF-8 sequence (U+00A0 in Windows-1252) is often
 * turned into a plain space; put it back where a UTF-8 sequence would need it.
 */
function restoreByteA0(bytes: Uint8Array): Uint8Array {
  let s = Buffer.from(bytes).toString('latin1');
  s = s.replace(/\xc3 (?! |quele|quela|quilo|s )/g, '\xc3\xa0 ');
  s = s.replace(
    /[\xc2\xc3\xc5\xce\xd0\xd9] |[\xe2\xe3] [\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf] |\xf0 [\x80-\xbf]{2}|\xf0[\x80-\xbf] [\x80-\xbf]|\xf0[\x80-\xbf]{2} /g,
    (m) => m.replace(/ /g, '\xa0'),
  );
  return new Uint8Array(Buffer.from(s, 'latin1'));
}
const ALTERED_UTF8_RE = /[\xc2\xc3\xc5\xce\xd0\xd9] |[\xe2\xe3] [\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf] |\xf0 [\x80-\xbf]{2}|\xf0[\x80-\xbf] [\x80-\xbf]|\xf0[\x80-\xbf]{2} /;

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Bytes as Windows-1252 text (strict: the undefined bytes fail). */
function decodeCp1252Strict(bytes: Uint8Array): string | null {
  let s = '';
  for (const b of bytes) {
    if (b >= 0x80 && b <= 0x9f) {
      const ch = CP1252_HIGH[b - 0x80];
      if (ch.charCodeAt(0) <= 0x9f) return null;
      s += ch;
    } else s += String.fromCharCode(b);
  }
  return s;
}

/** ftfy's decode_inconsistent_utf8: fix UTF-8 mojibake runs inside otherwise fine text. */
function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_RUN_RE, (run) => (run.length < text.length && isBad(run) ? fixEncoding(run) : run));
}

/** One step of ftfy's fix_encoding, for the Latin-1 and Windows-1252 code pages. */
function fixEncodingOneStep(text: string): string {
  if (/^\p{ASCII}*$/u.test(text) || !isBad(text)) return text;
  const possible: string[] = [];
  for (const cp1252 of [false, true]) {
    let bytes = encodeSingleByte(text, cp1252);
    if (!bytes) continue;
    possible.push(cp1252 ? 'cp1252' : 'latin-1');
    if (ALTERED_UTF8_RE.test(Buffer.from(bytes).toString('latin1'))) bytes = restoreByteA0(bytes);
    const fixed = decodeUtf8(bytes);
    if (fixed !== null) return fixed;
  }
  UTF8_RUN_RE.lastIndex = 0;
  if (UTF8_RUN_RE.test(text)) {
    UTF8_RUN_RE.lastIndex = 0;
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }
  if (possible.includes('latin-1')) {
    if (possible.includes('cp1252')) return text;
    const re = decodeCp1252Strict(encodeSingleByte(text, false)!);
    if (re !== null && re !== text) return re;
  }
  if (C1_RE.test(text)) return fixC1Controls(text);
  return text;
}

export function fixEncoding(text: string): string {
  for (;;) {
    const next = fixEncodingOneStep(text);
    if (next === text) return text;
    text = next;
  }
}

// ---- character-level fixes
export function fixC1Controls(text: string): string {
  return text.replace(C1_RE_G, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]);
}

const LIGATURES: Record<string, string> = {
  '\u0132': 'IJ', '\u0133': 'ij', '\u0149': '\u02bcn', '\u01f1': 'DZ', '\u01f2': 'Dz', '\u01f3': 'dz',
  '\u01c4': 'D\u017d', '\u01c5': 'D\u017e', '\u01c6': 'd\u017e', '\u01c7': 'LJ', '\u01c8': 'Lj', '\u01c9': 'lj',
  '\u01ca': 'NJ', '\u01cb': 'Nj', '\u01cc': 'nj', '\ufb00': 'ff', '\ufb01': 'fi', '\ufb02': 'fl', '\ufb03': 'ffi',
  '\ufb04': 'ffl', '\ufb05': '\u017ft', '\ufb06': 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'g');
export function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE_RE, (c) => LIGATURES[c]);
}

/** Full-width and half-width forms (U+FF01..U+FFEF) to their NFKC forms; U+3000 to a space. */
export function fixCharacterWidth(text: string): string {
  return text.replace(/[\uff01-\uffef\u3000]/g, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
}

export function uncurlQuotes(text: string): string {
  return text.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"');
}

export function fixLineBreaks(text: string): string {
  return text.replace(/\r\n|[\r\u2028\u2029\u0085]/g, '\n');
}

/** JS strings keep valid pairs joined already; a lone surrogate becomes U+FFFD. */
export function fixSurrogates(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

export function removeTerminalEscapes(text: string): string {
  // eslint-disable-next-line no-control-regex -- ESC (\x1b) starts the ANSI sequences this removes, as ftfy's does
  return text.replace(/\x1b\[((?:\d|;)*)([a-zA-Z])/g, '');
}

export function removeControlChars(text: string): string {
  // eslint-disable-next-line no-control-regex -- removing C0 controls (but tab, LF, FF, CR) is the point, as in ftfy
  return text.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
}

function fixSegment(text: string, unescape: boolean): string {
  for (;;) {
    const orig = text;
    if (unescape) text = unescapeHtml(text);
    text = fixEncoding(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === orig) return text;
  }
}

/** ftfy.fix_text(text) with the default configuration (see the file comment for what is covered). */
export function fixText(text: string): string {
  // printable ASCII without '&' (plus tab / newline) is left unchanged by every step: skip the passes
  if (/^[\t\n\x20-\x25\x27-\x7e]*$/.test(text)) return text;
  let unescape = true;
  const out: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    let brk = text.indexOf('\n', pos) + 1;
    if (brk === 0) brk = text.length;
    const segment = text.slice(pos, brk);
    // 'auto' mode: once a line contains '<' it looks like HTML, so entities stay as they are from then on
    if (unescape && segment.includes('<')) unescape = false;
    out.push(fixSegment(segment, unescape));
    pos = brk;
  }
  return out.join('');
}
