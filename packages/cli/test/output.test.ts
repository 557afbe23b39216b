/** What commands print: tables aligned on a terminal whatever the script, evaluation lines with counts as counts. */
import { displayWidth, table } from '../src/commands/inference-util';
import { evalLine } from '@altclip/train';

test('table columns line up by display width: a Chinese header takes two columns per character', () => {
  const t = table(['image', '一只猫', 'a dog'], [['cat.jpg', 0.9731, 0.0269], ['dog.jpg', '0.0012', '0.9988']]).split('\n');
  expect(displayWidth('一只猫')).toBe(6);
  expect(displayWidth('a dog')).toBe(5);
  // Every row's columns start where the header's do.
  const starts = (line: string) => {
    const out: number[] = [];
    let col = 0;
    let prevSpace = true;
    for (const ch of line) {
      if (ch !== ' ' && prevSpace) out.push(col);
      prevSpace = ch === ' ';
      col += displayWidth(ch);
    }
    return out;
  };
  const ends = (line: string) => starts(line).map((s, i, a) => (i + 1 < a.length ? a[i + 1] : displayWidth(line)));
  expect(t[0]).toBe('image    一只猫  a dog');
  expect(ends(t[2])).toEqual(ends(t[3]));
  expect(ends(t[2])[1]).toBe(ends(t[0])[1]);
});

test('evaluation lines print counts as whole numbers and scores to 4 decimals', () => {
  expect(evalLine(20, { zeroshot_acc1: 0.8125, zeroshot_n: 10000 })).toBe('eval @ step 20: zeroshot_acc1 0.8125  zeroshot_n 10000');
});
