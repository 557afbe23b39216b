import * as fs from 'fs';
import * as path from 'path';
import { tmpDir, fixture } from '@altclip/test-utils';
import { specOf } from '../src/options';
import { buildCli, main } from '../src/main';

let dir: string;
beforeAll(() => {
  dir = tmpDir('altclip-cli-validate-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The flags `--help` lists as numbers for a command (wrap off: one option per line). */
async function numberFlags(cmd: string[]): Promise<string[]> {
  let out = '';
  await buildCli([...cmd, '--help']).wrap(null).parse([...cmd, '--help'], {}, (_e: unknown, _a: unknown, o: string) => (out = o));
  return [...out.matchAll(/^\s*--([a-z-]+)\b[^\n]*\[number\]/gm)].map((m) => m[1]);
}

const COMMANDS = [['distill'], ['contrastive'], ['finetune'], ['eval', 'zeroshot'], ['eval', 'retrieval'], ['embed'], ['predict'], ['convert'], ['demo'], ['info'], ['report', 'RUN_DIR']]; // report takes its run folder as a positional

test('the probes of issue 14: each invalid flag is refused before any work, with one line naming the flag and the value', async () => {
  const out = path.join(dir, 'run');
  // Required options point at real things, so only the bad flag can be the reason; nothing may be created.
  const base = ['contrastive', '--model', fixture('altclip-tiny'), '--data', path.join(dir, 'pairs.tsv'), '--steps', '2', '--out', out];
  const cases: [string[], RegExp][] = [
    [['--batch-size', '0'], /^--batch-size must be an integer >= 1, got 0$/],
    [['--batch-size', '-4'], /^--batch-size must be an integer >= 1, got -4$/],
    [['--batch-size', '2.5'], /^--batch-size must be an integer >= 1, got 2\.5$/],
    [['--lr', '-1'], /^--lr must be a finite number >= 0, got -1$/],
    [['--lr', 'NaN'], /^--lr must be a finite number >= 0, got 'NaN'$/],
    [['--epochs', 'abc'], /^--epochs must be a finite number > 0, got 'abc'$/],
    [['--accum-steps', '0'], /^--accum-steps must be an integer >= 1, got 0$/],
    [['--warmup', '-3'], /^--warmup must be a finite number >= 0, got -3$/],
    [['--warmup', '2.5'], /^--warmup must be a whole number of steps when >= 1/],
    [['--betas', '1.5', '2'], /^--betas must be two numbers in \[0, 1\).*got 1\.5 2$/],
    [['--betas', '0.9'], /^--betas must be two numbers/],
    [['--grad-clip', '-1'], /^--grad-clip must be a finite number >= 0, got -1$/],
    [['--checkpoint-every', '-1'], /^--checkpoint-every must be an integer >= 0, got -1$/],
    [['--seed', 'abc'], /^--seed must be an integer >= 0 and <= 4294967295, got 'abc'$/],
    [['--warmup', '0', '--warmup', '-3'], /^--warmup given 2 times \(0, -3\); give it once$/],
    [['--steps', '5'], /^--steps given 2 times \(2, 5\); give it once$/],
    [['--name', 'a', '--name', 'b'], /^--name given 2 times \(a, b\); give it once$/],
    [['--max-pixels', '-1'], /^--max-pixels must be an integer >= 0, got -1$/],
    [['--lr'], /^--lr needs a value$/],
  ];
  for (const [extra, re] of cases) {
    const err = await main([...base, ...extra]).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(re);
  }
  // Several bad flags: all of them, one line each.
  const err = await main(['contrastive', '--model', 'm', '--data', 'd', '--steps', '0', '--lr', '-1']).catch((e: Error) => e);
  expect((err as Error).message.split('\n').sort()).toEqual(['--lr must be a finite number >= 0, got -1', '--steps must be an integer >= 1, got 0']);
  expect(fs.existsSync(out)).toBe(false);
});

test('--steps 0 / -5 and --batch-size 0 on embed and eval are refused (they used to write NaN models or hang)', async () => {
  const m = fixture('altclip-tiny');
  for (const [args, re] of [
    [['distill', '--teacher', m, '--student', m, '--data', 'x', '--steps', '0'], /^--steps must be an integer >= 1, got 0$/],
    [['finetune', '--model', m, '--steps', '-5'], /^--steps must be an integer >= 1, got -5$/],
    [['embed', '--model', m, '--texts', 'x', '--out', 'y', '--batch-size', '0'], /^--batch-size must be an integer >= 1, got 0$/],
    [['eval', 'zeroshot', '--model', m, '--batch-size', '0'], /^--batch-size must be an integer >= 1, got 0$/],
    [['eval', 'retrieval', '--model', m, '--data', 'x', '--limit', '0'], /^--limit must be an integer >= 1, got 0$/],
    [['predict', '--model', m, '--model', m, '--image', 'a', '--text', 'b'], /^--model given 2 times/],
    [['convert', '--in', 'a', '--out', 'b', '--dtype', 'f16', '--dtype', 'bf16'], /^--dtype given 2 times \(f16, bf16\)/],
    [['demo', '--out', 'a', '--out', 'b'], /^--out given 2 times/],
    [['demo', '--out', ''], /^--out must not be empty$/],
  ] as [string[], RegExp][]) {
    await expect(main(args)).rejects.toThrow(re);
  }
});

test('every number flag of every command has a rule in the shared schema and is checked', async () => {
  const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  let checked = 0;
  for (const cmd of COMMANDS) {
    const flags = await numberFlags(cmd);
    expect(flags).toContain('max-pixels'); // the global one
    for (const f of flags) {
      const spec = specOf(camel(f), cmd[0] === 'report' ? 'report' : (cmd.join(' ') as Parameters<typeof specOf>[1]));
      expect([cmd.join(' '), f, spec?.type === 'numbers' ? spec.check !== undefined : spec?.rule !== undefined]).toEqual([cmd.join(' '), f, true]);
      // -1.5 breaks every rule (all are integers and/or non-negative).
      await expect(main([...cmd, `--${f}`, '-1.5'])).rejects.toThrow(new RegExp(`^--${f} must be `));
      checked++;
    }
  }
  expect(checked).toBeGreaterThan(40);
});

test('a --config file is checked by the same schema, naming the file and the key', async () => {
  const cfg = path.join(dir, 'bad.json');
  fs.writeFileSync(cfg, JSON.stringify({ batchSize: 0, lr: 'fast', betas: [0.9, 1], dropout: 'yes', steps: 3 }));
  const err = (await main(['contrastive', '--config', cfg, '--model', 'm', '--data', 'd']).catch((e: Error) => e)) as Error;
  expect(err.message.split('\n')).toEqual([
    `${cfg}: 'batchSize' must be an integer >= 1, got 0`,
    `${cfg}: 'lr' must be a finite number >= 0, got 'fast'`,
    `${cfg}: 'betas' must be two numbers in [0, 1), e.g. 0.9 0.999, got 0.9 1`,
    `${cfg}: 'dropout' must be true or false, got 'yes'`,
  ]);
});

test('library entry points refuse a batch size of 0 instead of looping forever', async () => {
  const { sequentialBatches } = await import('@altclip/data');
  expect(() => [...sequentialBatches(0, 10, 0)]).toThrow('batch size must be an integer >= 1, got 0');
  const { embed } = await import('../src/commands/embed');
  await expect(embed({} as any, { texts: ['a'], out: path.join(dir, 'e.safetensors'), batchSize: 0 })).rejects.toThrow('embed: batch size must be an integer >= 1, got 0');
});
