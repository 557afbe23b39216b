/**
 * Golden snapshots of every command's `--help` and of the refusal messages of bad command lines and config files.
 * They pin the CLI's user-visible text, so a restructuring of how options are declared and checked shows every
 * change it makes. Regenerate deliberately with UPDATE_GOLDEN=1 (and read the diff).
 */
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '@altclip/test-utils';
import { buildCli, main } from '../src/main';

const GOLDEN = path.join(__dirname, 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const COMMANDS = [[], ['info'], ['convert'], ['eval'], ['eval', 'zeroshot'], ['eval', 'retrieval'], ['predict'], ['embed'], ['demo'], ['distill'], ['contrastive'], ['finetune'], ['report'], ['shards']];

/** What `--help` prints for a command, at a fixed width (the CLI wraps at the terminal's width). */
async function help(cmd: string[]): Promise<string> {
  let out = '';
  await buildCli([...cmd, '--help']).wrap(100).parse([...cmd, '--help'], {}, (_e: unknown, _a: unknown, o: string) => (out = o));
  return out + '\n';
}

function compare(file: string, actual: string): void {
  const p = path.join(GOLDEN, file);
  if (UPDATE) {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, actual);
  }
  expect(actual).toBe(fs.readFileSync(p, 'utf8'));
}

test.each(COMMANDS.map((c) => [c.join(' ') || '(top level)', c]))('--help of %s', async (name, cmd) => {
  compare(`help/${(cmd as string[]).join('-') || 'altclip'}.txt`, await help(cmd as string[]));
});

let dir: string;
beforeAll(() => {
  dir = tmpDir('altclip-golden-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI expecting a refusal; the message with the temp folder written as <TMP>. */
async function refusal(argv: string[]): Promise<string> {
  const spies = [
    jest.spyOn(console, 'error').mockImplementation(() => undefined),
    jest.spyOn(console, 'log').mockImplementation(() => undefined),
    jest.spyOn(process.stderr, 'write').mockImplementation(() => true),
    jest.spyOn(process.stdout, 'write').mockImplementation(() => true),
  ];
  try {
    await main(argv);
    return '(no error)';
  } catch (e) {
    return (e as Error).message.split(dir).join('<TMP>');
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
}

/** Config files of the refusal cases, written into the temp folder. */
const CONFIGS: Record<string, string> = {
  'bad-values.json': JSON.stringify({ batchSize: 0, lr: 'fast', betas: [0.9, 1], dropout: 'yes', steps: 3 }),
  'not-json.json': '{ "lr": ',
  'array.json': '[1, 2]',
  'empty.json': '',
  'typos.json': JSON.stringify({ batchSzie: 4, lr: 1e-4, progress: false, teacher: 'x' }),
  'enums.json': JSON.stringify({ preset: 'bogus', lang: 'fr', schedule: 'cosinus', frozenDtype: 'f8' }),
  'types.json': JSON.stringify({ freeze: '[', model: 5, evalLimit: '3', dropout: 'no' }),
  'regex.json': JSON.stringify({ freeze: ['('] }),
};

function cases(): string[][] {
  const T = (f: string) => path.join(dir, f);
  const train = ['distill', 'contrastive', 'finetune'];
  const out: string[][] = [[], ['nope'], ['evl'], ['eval'], ['eval', 'zeroshto'], ['report']];
  // Bare `info` and `demo` would do their work instead of refusing.
  for (const c of COMMANDS.filter((c) => c.length && !['eval', 'report', 'info', 'demo'].includes(c[0]))) out.push(c);
  for (const c of COMMANDS.filter((c) => c.length && c[0] !== 'eval' && c[0] !== 'report')) out.push([...c, '--bogus-flag']);
  out.push(['eval', 'zeroshot'], ['eval', 'retrieval'], ['eval', 'zeroshot', '--modle', 'm'], ['eval', 'retrieval', '--model', 'm']);
  const nums: Record<string, string[]> = {
    distill: ['seed', 'batch-size', 'accum-steps', 'epochs', 'steps', 'lr', 'warmup', 'min-lr', 'eps', 'weight-decay', 'grad-clip', 'log-every', 'checkpoint-every', 'keep-last', 'eval-every', 'max-length', 'unlocked-text-layers', 'unlocked-image-layers', 'eval-limit', 'teacher-max-length', 'max-pixels'],
    contrastive: ['batch-size', 'lr', 'unlocked-image-layers'],
    finetune: ['limit', 'steps', 'eval-limit'],
    'eval zeroshot': ['limit', 'batch-size'],
    'eval retrieval': ['limit', 'batch-size'],
    embed: ['batch-size'],
  };
  for (const [c, flags] of Object.entries(nums)) for (const f of flags) for (const v of ['-1.5', 'abc', '0']) out.push([...c.split(' '), `--${f}`, v]);
  const req: Record<string, string[]> = { distill: ['--teacher', 't', '--student', 's', '--data', 'd'], contrastive: ['--model', 'm', '--data', 'd'], finetune: ['--model', 'm'] };
  for (const c of train) {
    out.push([c, '--betas', '1.5', '2'], [c, '--betas', '0.9'], [c, '--lr'], [c, '--steps', '1', '--steps', '2'], [c, '--schedule', 'bogus'], [c, '--frozen-dtype', 'f8']);
    out.push([c, '--out', ''], [c, '--name', ''], [c, '--logger', 'wandb', ...req[c]]);
    out.push([c, '--eval-dataset', 'imagenet'], [c, '--eval-split', 'val'], [c, '--eval-lang', 'fr'], [c, '--resume', 'latest', ...req[c]]);
    for (const f of Object.keys(CONFIGS)) out.push([c, '--config', T(f), ...req[c]]);
    out.push([c, '--config', T('missing.json'), ...req[c]]);
  }
  out.push(['contrastive', '--data', 'd'], ['contrastive', '--model', 'm'], ['finetune', '--steps', '1'], ['distill', '--teacher', 't', '--student', 's']);
  out.push(['contrastive', '--lock-image', 'maybe', '--model', 'm', '--data', 'd'], ['finetune', '--dataset', 'imagenet', '--model', 'm'], ['finetune', '--preset', 'bogus', '--model', 'm']);
  out.push(['finetune', '--lang', 'fr', '--model', 'm'], ['finetune', '--split', 'val', '--model', 'm'], ['distill', '--target', 'cls', '--teacher', 't', '--student', 's', '--data', 'd']);
  out.push(['finetune', '--model', 'm', '--revision', 'v1'], ['eval', 'zeroshot', '--model', 'm', '--dataset', 'imagenet'], ['eval', 'zeroshot', '--model', 'm', '--lang', 'fr']);
  out.push(['eval', 'retrieval', '--model', 'm', '--data', 'd', '--format', 'xml'], ['convert', '--in', 'a', '--out', 'b', '--dtype', 'f8'], ['convert', '--in', 'a', '--out', 'b', '--dtype', 'f16', '--dtype', 'bf16']);
  out.push(['embed', '--model', 'm', '--out', 'o'], ['predict', '--model', 'm', '--image', 'a'], ['predict', '--model', 'm', '--model', 'm', '--image', 'a', '--text', 'b']);
  out.push(['demo', '--out', ''], ['demo', '--out', 'a', '--out', 'b'], ['info', '--backend', 'gpu'], ['info', '--jsn'], ['info', '--max-pixels', '-1']);
  out.push(['distill', '--no-progres', '--batchsize', '4'], ['predict', '--model', 'm', '--xyzzy-plugh']);
  // Empty values, regexes, settings that contradict each other, outputs that cannot be written.
  out.push(['finetune', '--model', 'm', '--lr', ''], ['info', '--max-pixels', ''], ['finetune', '--model', 'm', '--grad-clip='], ['finetune', '--model', 'm', '--freeze', '(']);
  out.push(['finetune', '--model', 'm', '--lr', '1e-4', '--min-lr', '1e-3'], ['finetune', '--model', 'm', '--eval-dataset', 'folder'], ['finetune', '--model', 'm', '--eval-data', T('x')]);
  out.push(['finetune', '--model', 'm', '--out', T('bad-values.json')], ['finetune', '--model', 'm', '--out', path.join(T('bad-values.json'), 'run')], ['finetune', '--model', 'm', '--name', '']);
  out.push(['eval', 'zeroshot', '--model', 'm', '--out', dir], ['embed', '--model', 'm', '--texts', 't', '--out', dir], ['report', dir, '--out', dir], ['demo', '--out', T('bad-values.json')]);
  out.push(['demo', '--fashion-mnist', T('no-such-folder')]);
  return out;
}

test('refusal messages of bad command lines and config files', async () => {
  for (const [f, text] of Object.entries(CONFIGS)) fs.writeFileSync(path.join(dir, f), text);
  const lines: string[] = [];
  for (const argv of cases()) lines.push(`$ altclip ${argv.map((a) => (a === '' ? "''" : a.split(dir).join('<TMP>'))).join(' ')}\n${await refusal(argv)}\n`);
  compare('refusals.txt', lines.join('\n'));
});
