/** Every `npx altclip ...` line of README.md parses: known command, known flags, valid choices, required options. */
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT } from '@altclip/test-utils';
import { buildCli } from '../src/main';

class Parsed extends Error {}

/** The documentation: the README and every page of docs/. */
const DOCS = ['README.md', ...fs.readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f))];

/** The altclip command lines of the docs' sh blocks (continuations joined, comments and "[optional]" brackets removed). */
function readmeCommands(): string[] {
  return DOCS.flatMap((doc) => {
    const text = fs.readFileSync(path.join(REPO_ROOT, doc), 'utf8');
    const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].replace(/\\\n\s*/g, ''));
    return blocks
      .flatMap((b) => b.split('\n'))
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => /^(npx )?altclip /.test(l) && !l.includes('...'))
      .map((l) => l.replace(/\[([^\]]*)\]/g, '$1').replace(/^altclip /, 'npx altclip '));
  });
}

/** Shell words: double-quoted strings kept together. */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

const lines = readmeCommands();

test('the README has altclip command lines, all written with npx (a fresh clone has no global altclip)', () => {
  expect(lines.length).toBeGreaterThan(15);
  const text = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  expect(text.match(/^altclip /gm)).toBeNull();
});

test.each(lines)('%s', async (line) => {
  const argv = words(line).slice(2);
  // Stop after parsing and validation, before the command's handler: nothing runs, nothing is downloaded.
  const cli = buildCli(argv)
    .exitProcess(false)
    .middleware(() => {
      throw new Parsed();
    }, false);
  const spies = [jest.spyOn(console, 'log').mockImplementation(() => undefined), jest.spyOn(console, 'error').mockImplementation(() => undefined)];
  try {
    await cli.parseAsync(); // --help prints and returns
  } catch (e) {
    if (!(e instanceof Parsed)) throw e; // a usage error: unknown command or flag, bad choice, missing option
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
});
