/** Command-line mistakes get one line that says what to type instead, not a page of help. */
import { main } from '../src/main';
import { closest, levenshtein } from '@altclip/train';

/** Runs the CLI expecting a failure; returns the error message and everything it printed. */
async function failing(argv: string[]): Promise<{ message: string; printed: string }> {
  const printed: string[] = [];
  const spies = [
    jest.spyOn(console, 'error').mockImplementation((...a) => void printed.push(a.join(' '))),
    jest.spyOn(console, 'log').mockImplementation((...a) => void printed.push(a.join(' '))),
    jest.spyOn(process.stderr, 'write').mockImplementation((s) => (printed.push(String(s)), true)),
  ];
  try {
    await main(argv);
  } catch (e) {
    return { message: (e as Error).message, printed: printed.join('') };
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
  throw new Error(`altclip ${argv.join(' ')} did not fail`);
}

test('levenshtein and closest', () => {
  expect(levenshtein('modle', 'model')).toBe(2);
  expect(levenshtein('', 'abc')).toBe(3);
  expect(levenshtein('kitten', 'sitting')).toBe(3);
  expect(closest('--stpes', ['--steps', '--seed', '--lr'])).toBe('--steps');
  expect(closest('--zzzzzz', ['--steps', '--seed'])).toBeUndefined();
});

test.each([
  [['info', '--jsn'], "unknown option --jsn (did you mean --json?) for 'altclip info'; see 'altclip info --help'"],
  // a mistyped required flag: yargs would report "Missing required argument: model" first
  [['eval', 'zeroshot', '--modle', 'm'], "unknown option --modle (did you mean --model?) for 'altclip eval zeroshot'; see 'altclip eval zeroshot --help'"],
  [['distill', '--no-progres', '--batchsize', '4'], "unknown options --no-progres (did you mean --no-progress?), --batchsize (did you mean --batch-size?) for 'altclip distill'; see 'altclip distill --help'"],
  [['predict', '--model', 'm', '--xyzzy-plugh'], "unknown option --xyzzy-plugh for 'altclip predict'; see 'altclip predict --help'"],
  [['evl'], "unknown command 'evl' (did you mean eval?); see 'altclip --help'"],
  [['eval', 'zeroshto'], "unknown command 'zeroshto' (did you mean zeroshot?); see 'altclip eval --help'"],
])('altclip %j fails with one line', async (argv, expected) => {
  const r = await failing(argv as string[]);
  expect(r.message).toBe(expected);
  expect(r.printed).toBe(''); // no help dump: bin.ts prints the message as the only line
});

test('known flags in every spelling pass the typo check (kebab, camelCase, --no-X, --x=v)', async () => {
  const r = await failing(['eval', 'zeroshot', '--batchSize', '2', '--limit', '1', '--no-skip-errors', '--backend=cpu', '--model', 'm']);
  expect(r.message).toMatch(/^--data is required for cifar10/); // parsing passed, the command itself ran
});

test('other usage errors still show the help, then the message', async () => {
  const r = await failing(['eval', 'zeroshot']);
  expect(r.message).toBe('Missing required argument: model');
  expect(r.printed).toMatch(/--model/);
});
