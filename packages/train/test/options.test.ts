/** The option schema and how a stage's options are layered: defaults, then the --config file, then what is given. */
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '@altclip/test-utils';
import { resolveStage, COMMANDS, optionsOf } from '../src';

let dir: string;
beforeAll(() => {
  dir = tmpDir('altclip-options-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('no command takes two options with the same key', () => {
  for (const c of COMMANDS) {
    const keys = optionsOf(c).map((o) => o.key);
    expect([c, keys.filter((k, i) => keys.indexOf(k) !== i)]).toEqual([c, []]);
  }
});

test('a stage resolves defaults, then its config file, then the options given; a preset in the file picks the defaults', () => {
  const cfg = path.join(dir, 'ft.json');
  fs.writeFileSync(cfg, JSON.stringify({ preset: 'flagai', lr: 3e-4, steps: 7 }));
  const preset = { batchSize: 4, lr: 1e-4, epochs: 10, weightDecay: 0.1 };
  const plain = { batchSize: 64, lr: 1e-5, epochs: 3, weightDecay: 0.2 };
  const { o, cfg: c } = resolveStage('finetune', (g: { preset?: string }) => (g.preset === 'flagai' ? preset : plain), { config: cfg, weightDecay: 0.05, log: () => undefined });
  expect(c).toMatchObject({ batchSize: 4, lr: 3e-4, steps: 7, weightDecay: 0.05 });
  expect(c.epochs).toBeUndefined(); // only steps were given: the default's epochs would stop the run earlier
  expect(o.preset).toBe('flagai');
  fs.writeFileSync(cfg, JSON.stringify({ batchSzie: 4 }));
  expect(() => resolveStage('finetune', plain, { config: cfg })).toThrow(`${cfg}: unknown key 'batchSzie' for 'altclip finetune' (did you mean 'batchSize'?)`);
});
