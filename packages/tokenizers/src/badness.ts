/**
 * ftfy's mojibake heuristic (ftfy/badness.py, 6.x): about 400 characters that turn up when UTF-8 is decoded
 * with a legacy code page, sorted into categories, and the unlikely juxtapositions of those categories that
 * mark text as "bad". ftfy only tries to re-decode text that is bad, so matching ftfy starts here.
 */

const C = {
  common: '\u00a0\u00ad\u00b7\u00b4\u2013\u2014\u2015\u2026\u2019',
  c1: '\\x80-\\x9f',
  bad: '\u00a6\u00a4\u00a8\u00ac\u00af\u00b8\u0192\u02c6\u02c7\u02d8\u02db\u02dc\u2020\u2021\u2030\u2310\u25ca\ufffd\u00aa\u00ba',
  law: '\u00b6\u00a7',
  currency: '\u00a2\u00a3\u00a5\u20a7\u20ac',
  start: '\u00a1\u00ab\u00bf\u00a9\u0384\u0385\u2018\u201a\u201c\u201e\u2022\u2039\uf8ff',
  end: '\u00ae\u00bb\u02dd\u201d\u203a\u2122',
  numeric: '\u00b2\u00b3\u00b9\u00b1\u00bc\u00bd\u00be\u00d7\u00b5\u00f7\u2044\u2202\u2206\u220f\u2211\u221a\u221e\u2229\u222b\u2248\u2260\u2261\u2264\u2265\u2116',
  kaomoji: '\u00d2-\u00d6\u00d9-\u00dc\u00f2-\u00f6\u00f8-\u00fc\u0150\u014c\u016a\u0172\u00b0',
  upperAcc: '\u00c0-\u00d1\u00d8\u00dc\u00dd\u0102\u0100\u0104\u0106\u010c\u010e\u0110\u0118\u011a\u0112\u0116\u011e\u0122\u0130' +
    '\u012a\u0136\u0139\u013d\u0141\u013b\u0143\u0147\u0145\u0152\u0158\u015a\u015e\u0160\u0162\u0164\u016e\u0170\u0178\u0179\u017b\u017d\u0490',
  lowerAcc: '\u00df\u00e0-\u00f1\u0103\u0105\u0101\u0107\u010d\u010f\u0111\u0119\u011b\u0113\u0117\u011f\u0123\u012f\u012b\u0137\u013a' +
    '\u013e\u0142\u013c\u0153\u0155\u015b\u015f\u0161\u0165\u00fc\u017a\u017c\u017e\u0491\ufb01\ufb02',
  upperCommon: '\u00de\u0391-\u03a9\u0386\u0388\u0389\u038a\u038c\u038e\u038f\u03aa\u03ab\u0401-\u042f',
  lowerCommon: '\u03b1-\u03c9\u03ac\u03ad\u03ae\u03af\u03b0\u0430-\u045f',
  box: '\u2502\u250c\u2510\u2518\u251c\u2524\u252c\u253c\u2550-\u256c\u2580\u2584\u2588\u258c\u2590\u2591\u2592\u2593',
};

// Python's \s and \w on str
const S = '[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const W = '[\\p{L}\\p{N}_]';
const cls = (...parts: string[]) => `[${parts.join('')}]`;
const { common, c1, bad, law, currency, start, end, numeric, kaomoji, upperAcc, lowerAcc, upperCommon, lowerCommon, box } = C;
const arabicTail = cls(common, currency, bad, numeric, start, '\u0178\u0160\u00ae\u00b0\u00b5\u00bb');

const RULES = [
  cls(c1),
  cls(bad, lowerAcc, upperAcc, box, start, end, currency, numeric, law) + cls(bad),
  '[a-zA-Z]' + cls(lowerCommon, upperCommon) + cls(bad),
  cls(bad) + cls(lowerAcc, upperAcc, box, start, end, currency, numeric, law),
  cls(lowerAcc, lowerCommon, box, end, currency, numeric) + cls(upperAcc),
  cls(box, end, currency, numeric) + cls(lowerAcc),
  cls(lowerAcc, box, end) + cls(currency),
  S + cls(upperAcc) + cls(currency),
  cls(upperAcc, box) + cls(numeric, law),
  cls(lowerAcc, upperAcc, box, currency, end) + cls(start) + cls(numeric),
  cls(lowerAcc, upperAcc, currency, numeric, box, law) + cls(end) + cls(start),
  cls(currency, numeric, box) + cls(start),
  '[a-z]' + cls(upperAcc) + cls(start, currency),
  cls(box) + cls(kaomoji),
  cls(lowerAcc, upperAcc, currency, numeric, start, end, law) + cls(box),
  cls(box) + cls(end),
  cls(lowerAcc, upperAcc) + cls(start, end) + W,
  '[\u0152\u0153][^A-Za-z]',
  cls(upperAcc) + '\u00b0',
  '[\u00c2\u00c3\u00ce\u00d0]' + cls('\u20ac\u0153\u0160\u0161\u00a2\u00a3\u0178\u017e\u00a0\u00ad\u00ae\u00a9\u00b0\u00b7\u00bb', start, end, '\u2013\u2014\u00b4'),
  '\u00d7[\u00b2\u00b3]',
  '[\u00d8\u00d9]' + arabicTail + '[\u00d8\u00d9]' + arabicTail,
  '\u00e0[\u00b2\u00b5\u00b9\u00bc\u00bd\u00be]',
  '\u221a[\u00b1\u2202\u2020\u2260\u00ae\u2122\u00b4\u2264\u2265\u00a5\u00b5\u00f8]',
  '\u2248[\u00b0\u00a2]',
  '\u201a\u00c4[\u00ec\u00ee\u00ef\u00f2\u00f4\u00fa\u00f9\u00fb\u2020\u00b0\u00a2\u03c0]',
  '\u201a[\u00e2\u00f3][\u00e0\u00e4\u00b0\u00ea]',
  '\u0432\u0402',
  '[\u0412\u0413\u0420\u0421]' + cls(c1, bad, start, end, currency, '\u00b0\u00b5') + '[\u0412\u0413\u0420\u0421]',
  '\u0413\u045e\u0412\u0402\u0412.[A-Za-z ]',
  '\u00c3[\u00a0\u00a1]',
  `[a-z]${S}?[\u00c3\u00c2][ ]`,
  '^[\u00c3\u00c2][ ]',
  cls('a-z.,?!', end) + '\u00c2' + cls(' ', start, end),
  '\u03b2\u20ac[\u2122\u00a0\u0386\u00ad\u00ae\u00b0]',
  '[\u0392\u0393\u039e\u039f]' + cls(c1, bad, start, end, currency, '\u00b0') + '[\u0392\u0393\u039e\u039f]',
  '\u0101\u20ac',
];

const BADNESS_RE = new RegExp(RULES.join('|'), 'u');

/** ftfy.badness.is_bad: does the text look like it contains mojibake? */
export function isBad(text: string): boolean {
  return BADNESS_RE.test(text);
}
