import { fixText, htmlUnescape } from '@altclip/tokenizers';

// Behaviours documented for ftfy 6.x fix_text / Python's html.unescape, spelled out by hand.
test.each([
  ['mojibake, UTF-8 read as Windows-1252', 'donâ€™t panic', "don't panic"],
  ['mojibake, UTF-8 read as Latin-1', 'cafÃ©', 'café'],
  ['embedded mojibake next to a legit accent', 'The café is called CafÃ© Paris.', 'The café is called Café Paris.'],
  ['legit Latin-1 text is left alone', 'naïve Courtès „Straße“', 'naïve Courtès "Straße"'],
  ['mojibake of a 4-byte sequence', 'ðŸ˜€ ok', '😀 ok'],
  ['mojibake with the 0xa0 byte turned into a space', 'franÃ§ais Ã  la carte', 'français à la carte'],
  ['ligatures', 'ﬁne ﬂuﬃ', 'fine fluffi'],
  ['full width', 'ＡＢＣ　１２３！', 'ABC 123!'],
  ['half-width katakana', 'ｶﾀｶﾅ', 'カタカナ'],
  ['curly quotes', '“quoted” ‘single’', '"quoted" \'single\''],
  ['line breaks', 'a\r\nb\rc\u2028d', 'a\nb\nc\nd'],
  ['terminal escapes', '\x1b[36;44mblue\x1b[0m', 'blue'],
  ['control characters', 'a\x00b\x07c\ufeffd\te', 'abcd\te'],
  ['C1 controls as Windows-1252', 'price \x80 5', 'price € 5'],
  ['NFC', 'cafe\u0301', 'café'],
  ['html entities', 'fish &amp; chips &EACUTE;t&#233; &#x263a;', 'fish & chips Été ☺'],
  ['html left alone on a line with <', '<b>&amp;</b>', '<b>&amp;</b>'],
  ['lone surrogate', 'a\ud800b', 'a\ufffdb'],
])('%s', (_name, input, expected) => {
  expect(fixText(input)).toBe(expected);
});

test.each([
  ['&amp;amp;', '&amp;'],
  ['&lt;3 &gt', '<3 >'],
  ['&ampx', '&x'],
  ['&#39;&#x27;&#X27', "'''"],
  ['&#128;&#0;&#xd800;&#x110000;', '\u20ac\ufffd\ufffd\ufffd'],
  ['&#1;x', 'x'],
  ['&nosuch; &', '&nosuch; &'],
  ['&notin; &notit;', '\u2209 \u00acit;'],
])('html.unescape(%j)', (input, expected) => {
  expect(htmlUnescape(input)).toBe(expected);
});
