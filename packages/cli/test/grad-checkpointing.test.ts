/**
 * --grad-checkpointing end to end: a fine-tune of both towers (dropout on) with and without it gives the same
 * losses and gradient norms step for step, and the run config records it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { fixture, tmpDir, REPO_ROOT } from '@altclip/test-utils';
import { main } from '../src/main';

const SPM = path.join(REPO_ROOT, 'datasets', 'demo-spm');
let dir: string;

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  dir = tmpDir('altclip-cli-ckpt-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('finetune --grad-checkpointing: same losses and gradient norms as without, recorded in config.json', async () => {
  const run = async (name: string, extra: string[]) => {
    const out = path.join(dir, name);
    await main(['finetune', '--backend', 'wasm', '--model', fixture('altclip-tiny'), '--tokenizer', SPM, '--dataset', 'cifar10', '--data', fixture('cifar10_bin'),
      '--limit', '8', '--batch-size', '4', '--steps', '3', '--lock-image', 'false', '--log-every', '1', '--out', out, '--no-progress', ...extra]);
    const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.loss !== undefined);
    return { metrics, cfg: JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) };
  };
  const plain = await run('plain', []);
  const ck = await run('ck', ['--grad-checkpointing']);
  expect(ck.cfg.gradCheckpointing).toBe(true);
  expect(plain.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
  expect(ck.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
  for (let i = 0; i < 3; i++) {
    expect(ck.metrics[i].loss).toBeCloseTo(plain.metrics[i].loss, 5);
    expect(ck.metrics[i].grad_norm).toBeCloseTo(plain.metrics[i].grad_norm, 4);
  }
});
