import * as fs from 'fs';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { closeSharedPool } from '@altclip/image';
import { fixture, tmpDir, REPO_ROOT } from '@altclip/test-utils';
import { readEventFile } from '@altclip/train';
import { main } from '../src/main';

const SPM = path.join(REPO_ROOT, 'datasets', 'demo-spm');
const TINY = fixture('altclip-tiny');
let dir: string;

beforeAll(async () => {
  // wasm: several times faster than cpu on these small models (the backend package adds the gradient kernels it lacks)
  await setupBackend({ backend: 'wasm' });
  dir = tmpDir('altclip-cli-train-');
});
afterAll(async () => {
  await closeSharedPool(); // image decoding workers used by the file datasets
  fs.rmSync(dir, { recursive: true, force: true });
});

test('altclip contrastive: --config + flag overrides, run folder layout, refusal to reuse, --resume latest', async () => {
  const imgs = fixture('preprocess', 'images');
  const rows = ['rgb_224x224.png', 'rgb_50x80.png', 'gray_334x250.png', 'palette_120x90.png'].map((f, i) => `${path.join(imgs, f)}\tcaption number ${i}`);
  const data = path.join(dir, 'pairs.tsv');
  fs.writeFileSync(data, `image\tcaption\n${rows.join('\n')}\n`);
  const out = path.join(dir, 'run');
  const args = (steps: number) => ['contrastive', '--backend', 'wasm', '--config', path.join(REPO_ROOT, 'configs', 'train', 'contrastive-tiny.json'), '--model', TINY, '--tokenizer', SPM, '--data', data, '--batch-size', '4', '--steps', String(steps), '--log-every', '1', '--checkpoint-every', '1', '--out', out, '--no-progress', '--logger', 'jsonl,tensorboard'];
  const stderr: string[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s) => (stderr.push(String(s)), true));
  try {
    await main(args(2));
  } finally {
    spy.mockRestore();
  }
  // --no-progress: plain step lines (not silence, not a redrawn bar)
  expect(stderr.join('')).toMatch(/^\S+ step 1\/2 {2}loss \d/m);
  expect(stderr.join('')).toMatch(/^\S+ step 2\/2 {2}loss \d/m);
  expect(stderr.join('')).not.toMatch(/\r/);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  expect(cfg.train).toMatchObject({ batchSize: 4, steps: 2, lr: 1e-4, weightDecay: 0.05, gradClip: 5 }); // flags over the config file
  expect(cfg.lockImage).toBe(true);
  const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(metrics.map((m) => m.step)).toEqual([1, 2]);
  for (const k of ['loss', 'text_loss', 'image_loss', 'acc', 'lr', 'grad_norm', 'samples_per_s', 'logit_scale', 'num_tensors', 'rss_mib']) expect(typeof metrics[1][k]).toBe('number');
  expect(fs.readdirSync(path.join(out, 'checkpoints')).sort()).toEqual(['latest', 'step-1', 'step-2']);
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json', 'sentencepiece.bpe.model', 'preprocessor_config.json'])
    expect(fs.existsSync(path.join(out, 'checkpoints', 'step-2', f))).toBe(true);
  expect(fs.existsSync(path.join(out, 'final', 'model.safetensors'))).toBe(true);
  await expect(main(args(2))).rejects.toThrow(/already exists.*--resume latest/);
  await main([...args(3), '--resume', 'latest']);
  const after = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  expect(after).toEqual([1, 2, 3]);
  // One event file per invocation; together they hold the loss of every step.
  const tb = fs.readdirSync(path.join(out, 'tensorboard')).sort().map((f) => readEventFile(path.join(out, 'tensorboard', f)));
  expect(tb).toHaveLength(2);
  expect(tb.flat().filter((e) => e.scalars?.some((s) => s.tag === 'loss')).map((e) => e.step)).toEqual([1, 2, 3]);
});

test('altclip finetune on the CIFAR-10 fixture (--limit, --lang zh captions written to config.json), zero-shot eval logged', async () => {
  const out = path.join(dir, 'ft');
  await main(['finetune', '--backend', 'wasm', '--model', TINY, '--tokenizer', SPM, '--dataset', 'cifar10', '--data', fixture('cifar10_bin'), '--lang', 'zh', '--limit', '8', '--batch-size', '4', '--steps', '2', '--out', out, '--no-progress',
    '--eval-dataset', 'cifar10', '--eval-data', fixture('cifar10_bin'), '--eval-limit', '6', '--eval-every', '2', '--logger', 'tensorboard']);
  const evals = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.eval);
  expect(evals.map((e) => e.step)).toEqual([2]);
  for (const e of evals) {
    expect(e.eval.zeroshot_n).toBe(6);
    expect(e.eval.zeroshot_acc1).toBeGreaterThanOrEqual(0);
    expect(e.eval.zeroshot_acc1).toBeLessThanOrEqual(1);
    // acc1 over 6 images is a multiple of 1/6.
    expect(Math.abs(e.eval.zeroshot_acc1 * 6 - Math.round(e.eval.zeroshot_acc1 * 6))).toBeLessThan(1e-9);
  }
  const [tbFile] = fs.readdirSync(path.join(out, 'tensorboard'));
  const acc = readEventFile(path.join(out, 'tensorboard', tbFile)).flatMap((e) => (e.scalars ?? []).filter((s) => s.tag === 'eval/zeroshot_acc1').map((s) => [e.step, s.value]));
  expect(acc).toEqual([[2, Math.fround(evals[0].eval.zeroshot_acc1)]]);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  expect(cfg.classnames[0]).toBe('飞机');
  expect(cfg.train.lr).toBe(1e-5);
  // altclip report on the real run folder: the eval logged during training is charted.
  await main(['report', out]);
  expect(fs.readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('aria-label="eval/zeroshot_acc1"');
  expect(fs.existsSync(path.join(out, 'final', 'model.safetensors'))).toBe(true);
});

test('altclip shards, then contrastive on the shards: the same samples and losses as on the pairs file (file order, no shuffle)', async () => {
  const imgs = fixture('preprocess', 'images');
  const rows = ['rgb_224x224.png', 'rgb_50x80.png', 'gray_334x250.png', 'palette_120x90.png', 'rgba_400x300.png'].map((f, i) => `${path.join(imgs, f)}\tcaption number ${i}`);
  const pairs = path.join(dir, 'shard-pairs.tsv');
  fs.writeFileSync(pairs, `image\tcaption\n${rows.join('\n')}\n`);
  const printed: string[] = [];
  const spies = [
    jest.spyOn(console, 'log').mockImplementation((s) => void printed.push(String(s))),
    jest.spyOn(process.stderr, 'write').mockImplementation(() => true),
    jest.spyOn(process.stdout, 'write').mockImplementation(() => true),
  ];
  const cfg = path.join(dir, 'no-shuffle.json');
  fs.writeFileSync(cfg, JSON.stringify({ shuffle: false }));
  const train = (data: string, out: string) =>
    main(['contrastive', '--backend', 'wasm', '--config', cfg, '--model', TINY, '--tokenizer', SPM, '--data', data, '--batch-size', '2', '--steps', '3', '--lr', '1e-3', '--shuffle-buffer', '0', '--log-every', '1', '--no-progress', '--out', path.join(dir, out)]);
  try {
    await main(['shards', '--from', pairs, '--out', path.join(dir, 'shards'), '--per-shard', '2']);
    await train(pairs, 'on-pairs');
    await train(path.join(dir, 'shards', '{00000..00002}.tar'), 'on-shards');
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
  expect(printed.join('\n')).toContain(`train on --data '${path.join(dir, 'shards', '{00000..00002}.tar')}'`);
  const losses = (out: string) => fs.readFileSync(path.join(dir, out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.loss !== undefined).map((r) => r.loss);
  expect(losses('on-shards')).toHaveLength(3);
  // Same samples in the same order, so the same losses up to float rounding: the frozen image tower runs on other
  // row counts (the pairs file's cached features in fixed chunks of 16 samples, the stream per batch of 2), and
  // matmul kernels tile by row count (measured: 1.2e-7 absolute). A wrong or reordered sample moves a loss by > 1e-2.
  const onPairs = losses('on-pairs');
  losses('on-shards').forEach((l: number, i: number) => expect(l).toBeCloseTo(onPairs[i], 6));
}, 300000);

test('--precision amp_bf16 trains and logs what the matmuls compute in here (bf16 products need AVX512_BF16 and native)', async () => {
  const imgs = fixture('preprocess', 'images');
  const data = path.join(dir, 'prec-pairs.tsv');
  fs.writeFileSync(data, `image\tcaption\n${['rgb_224x224.png', 'rgb_50x80.png'].map((f, i) => `${path.join(imgs, f)}\tcaption ${i}`).join('\n')}\n`);
  const stderr: string[] = [];
  const spies = [jest.spyOn(process.stderr, 'write').mockImplementation((s) => (stderr.push(String(s)), true)), jest.spyOn(process.stdout, 'write').mockImplementation(() => true)];
  try {
    await main(['contrastive', '--backend', 'wasm', '--model', TINY, '--tokenizer', SPM, '--data', data, '--batch-size', '2', '--steps', '1', '--lr', '1e-4', '--precision', 'amp_bf16', '--no-progress', '--out', path.join(dir, 'prec')]);
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
  // The run says what the matmuls compute in on this machine (bf16 products, or fp32 and why: the precision tests
  // of @altclip/models check those lines).
  const { getPrecision } = await import('@altclip/models');
  expect(stderr.join('')).toContain(getPrecision('amp_bf16').support().line);
  expect(stderr.join('')).toMatch(/^precision amp_bf16: /m);
  expect(fs.existsSync(path.join(dir, 'prec', 'final', 'model.safetensors'))).toBe(true);
}, 300000);
