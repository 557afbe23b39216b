/**
 * The memory options end to end. --grad-checkpointing: a fine-tune of both towers (dropout on) with and without it
 * gives the same losses and gradient norms step for step. --frozen-dtype bf16: the locked image tower is held and
 * saved in bf16 while the text tower trains in f32.
 */
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { openSafetensors } from '@altclip/checkpoint';
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

test('finetune --frozen-dtype bf16 (image tower locked): vision weights saved as BF16, text weights F32 and trained', async () => {
  const out = path.join(dir, 'half');
  await main(['finetune', '--backend', 'wasm', '--model', fixture('altclip-tiny'), '--tokenizer', SPM, '--dataset', 'cifar10', '--data', fixture('cifar10_bin'),
    '--limit', '8', '--batch-size', '4', '--steps', '2', '--lock-image', '--frozen-dtype', 'bf16', '--out', out, '--no-progress']);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).frozenDtype).toBe('bf16');
  const saved = await openSafetensors(path.join(out, 'final', 'model.safetensors'));
  const orig = await openSafetensors(path.join(fixture('altclip-tiny'), 'model.safetensors'));
  try {
    expect(saved.info('vision_model.encoder.layers.0.mlp.fc1.weight').dtype).toBe('BF16');
    expect(saved.info('vision_model.encoder.layers.0.layer_norm1.weight').dtype).toBe('F32'); // small tensors stay f32
    const fc1 = 'text_model.roberta.encoder.layer.0.intermediate.dense.weight';
    expect(saved.info(fc1).dtype).toBe('F32');
    const [a, b] = [await saved.read(fc1), await orig.read(fc1)];
    expect(Array.from(a.data as Float32Array)).not.toEqual(Array.from(b.data as Float32Array)); // the text tower trained
  } finally {
    await saved.close();
    await orig.close();
  }
});
