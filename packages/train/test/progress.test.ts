import { createProgress, progressMode } from '../src';

function fakeStream(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns: 200, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
}

test('non-TTY: a plain line every `every` steps and at the end, with live loss and ETA', () => {
  const f = fakeStream(false);
  const p = createProgress({ total: 5, every: 2, label: 'distill', stream: f.stream });
  for (let s = 1; s <= 5; s++) p.update(s, { loss: 1 / s });
  p.done();
  expect(f.out.length).toBe(3); // steps 2, 4, 5
  expect(f.out[0]).toMatch(/^distill step 2\/5 {2}loss 0\.5000 {2}eta \d\d:\d\d\n$/);
  expect(f.out[2]).toMatch(/^distill step 5\/5 {2}loss 0\.2000 {2}eta 00:00\n$/);
});

test('TTY: one redrawn bar line (carriage return, no newline) with step, ETA and loss; log lines clear it', () => {
  const f = fakeStream(true);
  const p = createProgress({ total: 4, label: 'train', stream: f.stream });
  p.update(4, { loss: 0.25 });
  // eslint-disable-next-line no-control-regex -- the bar ends with the terminal's erase-line code, ESC [K
  expect(f.out[0]).toMatch(/^\rtrain \[#{24}\] 4\/4 \d\d:\d\d<\d\d:\d\d {2}loss 0\.2500\x1b\[K$/);
  p.log('hello');
  expect(f.out.slice(1)).toEqual(['\r\x1b[K', 'hello\n']);
  p.done();
});

test("plain (the CLI's --no-progress): step lines even on a TTY, no carriage returns or escape codes", () => {
  const f = fakeStream(true);
  const p = createProgress({ total: 4, every: 2, label: 'train', stream: f.stream, ...progressMode('plain') });
  for (let s = 1; s <= 4; s++) p.update(s, { loss: 1 / s });
  p.log('a message');
  p.done();
  expect(f.out).toHaveLength(3);
  expect(f.out[0]).toMatch(/^train step 2\/4 {2}loss 0\.5000 {2}eta \d\d:\d\d\n$/);
  expect(f.out[1]).toMatch(/^train step 4\/4 /);
  expect(f.out[2]).toBe('a message\n');
  // eslint-disable-next-line no-control-regex -- no ESC anywhere: plain mode writes no terminal codes
  expect(f.out.join('')).not.toMatch(/[\r\x1b]/);
  expect(progressMode(false)).toEqual({ quiet: true, plain: false });
});

test('samplesPerStep adds samples/s counted from begin(step): a resumed run rates only the steps it ran', () => {
  const f = fakeStream(false);
  let now = 1000;
  const spy = jest.spyOn(Date, 'now').mockImplementation(() => now);
  try {
    const p = createProgress({ total: 10, every: 1, stream: f.stream, samplesPerStep: 8 });
    now += 60000; // opening the run (loading a checkpoint) is not training time
    p.begin(6); // resumed at step 6
    now += 2000;
    p.update(7, { loss: 1 });
    now += 2000;
    p.update(8, { loss: 1 });
  } finally {
    spy.mockRestore();
  }
  expect(f.out[0]).toMatch(/^train step 7\/10 {2}loss 1\.0000 {2}4\.0 samples\/s {2}eta 00:06\n$/); // 8 samples in 2 s; 3 steps of 2 s left
  expect(f.out[1]).toMatch(/ 4\.0 samples\/s {2}eta 00:04\n$/);
});
