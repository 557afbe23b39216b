/** Runs the altclip CLI in-process (its `main`), capturing what it prints: stdout (console.log) and stderr. */
import { main } from '@altclip/cli';

export async function runCli(args: string[]): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const spyErr = jest.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    await main(args);
  } finally {
    spy.mockRestore();
    spyErr.mockRestore();
  }
  return { out: out.join('\n'), err: err.join('') };
}
