/**
 * Checkpoints under faults (issue 24, items 13-14): a disk that fills while a checkpoint is written, what killed
 * writers leave behind, a truncated model file, and a run stopped before its first checkpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { setupBackend } from '@altclip/backend';
import { tmpDir } from '@altclip/test-utils';
import { checkpointProblem, prepareRunDir, resolveResume, train, TrainConfig } from '../src';
import { makeToy, toyData } from './toy';

const base: TrainConfig = {
  seed: 3, batchSize: 4, steps: 4, lr: 0.05, schedule: 'constant', warmup: 0, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, gradClip: 1.0, logEvery: 1,
};

let dir: string;
beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
  dir = tmpDir('altclip-ckfaults-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the toy trainer; logs are collected. */
async function run(runDir: string, config: Partial<TrainConfig>, resume?: string, seed = 1, h = 8) {
  const toy = makeToy(seed, {}, 6, 5, 4, h);
  const logs: string[] = [];
  try {
    const r = await train({ task: toy.task, params: toy.params, data: toyData(8), config: { ...base, ...config }, runDir, resume, progress: false, log: (l) => logs.push(l) });
    return { r, logs };
  } finally {
    toy.dispose();
  }
}

/** A process id that no longer runs. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;
const leftovers = (ckRoot: string) => fs.readdirSync(ckRoot).filter((e) => e.startsWith('.tmp-'));

/**
 * Makes every file write fail with ENOSPC once `budget` bytes have been written in total, as a full disk does
 * (the same errno, syscall and message as Node's). Returns a function that undoes it.
 */
function fillDiskAfter(budget: number): () => void {
  const open = fs.promises.open;
  let left = budget;
  const spy = jest.spyOn(fs.promises, 'open').mockImplementation(async (...args: Parameters<typeof open>) => {
    const fh = await open(...args);
    const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
    (fh as { write: unknown }).write = async (data: Uint8Array, offset = 0, length = data.length - offset, position?: number) => {
      if (length > left) {
        if (left > 0) await write(data, offset, left, position);
        left = 0;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
      }
      left -= length;
      return write(data, offset, length, position);
    };
    return fh;
  });
  return () => spy.mockRestore();
}

test('a disk that fills during a checkpoint: the error names the file and the space needed; no temporary folder is left', async () => {
  const runDir = path.join(dir, 'enospc');
  const ckRoot = path.join(runDir, 'checkpoints');
  await run(runDir, { steps: 2, checkpointEvery: 2 });
  const model = fs.statSync(path.join(ckRoot, 'step-2', 'model.safetensors')).size;
  const opt = fs.statSync(path.join(ckRoot, 'step-2', 'optimizer.safetensors')).size;
  // Room for half of the next model file only.
  const restore = fillDiskAfter(Math.floor(model / 2));
  let err: Error & { code?: string };
  try {
    err = await run(runDir, { steps: 4, checkpointEvery: 2 }, 'latest').then(() => new Error('no error'), (e) => e);
  } finally {
    restore();
  }
  const tmpModel = path.join(ckRoot, `.tmp-step-4-${process.pid}`, 'model.safetensors');
  expect(err.code).toBe('ENOSPC');
  expect(err.message).toContain(`cannot write checkpoint step-4: ENOSPC: no space left on device, write while writing ${tmpModel} (`);
  expect(err.message).toMatch(new RegExp(`of ${(model / 2 ** 20).toFixed(1)} MiB written`));
  // The estimate: this model's size (from the last complete checkpoint) plus the moments (2 x 4 bytes per trained value).
  const moments = 2 * 4 * (6 * 8 + 8 + 8 * 4 + 5 * 8 + 8 * 4 + 1);
  expect(opt).toBeGreaterThan(moments);
  expect(err.message).toContain(`A checkpoint needs about ${((model + moments) / 2 ** 20).toFixed(1)} MiB (model ${(model / 2 ** 20).toFixed(1)} MiB, optimizer`);
  expect(err.message).toContain(`the last complete one is ${path.join(ckRoot, 'step-2')}`);
  expect(leftovers(ckRoot)).toEqual([]);
  expect(fs.readFileSync(path.join(ckRoot, 'latest'), 'utf8').trim()).toBe('step-2');
  // With space again, the run continues from its last checkpoint.
  const again = await run(runDir, { steps: 4, checkpointEvery: 2 }, 'latest');
  expect(again.r.records.map((x) => x.step)).toEqual([3, 4]);
});

test('files and folders of writers killed mid-write are removed by the next run in that folder; those of live processes stay', async () => {
  const runDir = path.join(dir, 'leftovers');
  const ckRoot = path.join(runDir, 'checkpoints');
  await run(runDir, { steps: 2, checkpointEvery: 2 });
  const dead = deadPid();
  const live = process.ppid; // runs, and is not us
  const stale = [
    path.join(ckRoot, `.tmp-step-3-${dead}`, 'model.safetensors'),
    path.join(runDir, 'final', `.model.safetensors.tmp-${dead}-abc123`),
    path.join(runDir, `.config.json.tmp-${dead}-x1y2z3`),
    path.join(ckRoot, `.latest.tmp-${dead}-q9`),
    path.join(runDir, `metrics.jsonl.tmp-${dead}`),
  ];
  const kept = [path.join(ckRoot, `.tmp-step-9-${live}`, 'model.safetensors'), path.join(runDir, 'final', `.model.safetensors.tmp-${live}-abc123`)];
  for (const f of [...stale, ...kept]) {
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, 'partial');
  }
  const { logs } = await run(runDir, { steps: 3, checkpointEvery: 2 }, 'latest');
  for (const f of stale) expect(fs.existsSync(f)).toBe(false);
  for (const f of kept) expect(fs.existsSync(f)).toBe(true);
  expect(logs.find((l) => l.startsWith('removed 5 temporary file(s) left by an interrupted process: '))).toContain(`checkpoints/.tmp-step-3-${dead}`);
  fs.rmSync(path.join(ckRoot, `.tmp-step-9-${live}`), { recursive: true });
});

test('--resume latest skips a checkpoint whose model file is truncated, for the newest complete one', async () => {
  const runDir = path.join(dir, 'truncated');
  const ckRoot = path.join(runDir, 'checkpoints');
  await run(runDir, { steps: 4, checkpointEvery: 2, keepLast: 3 });
  const file = path.join(ckRoot, 'step-4', 'model.safetensors');
  fs.truncateSync(file, fs.statSync(file).size - 10);
  expect(checkpointProblem(path.join(ckRoot, 'step-4'))).toMatch(new RegExp(`^${file}: tensor '.+': data_offsets \\[\\d+, \\d+\\] out of range .*the file is truncated`));
  const { r, logs } = await run(runDir, { steps: 5, checkpointEvery: 2, keepLast: 3 }, 'latest');
  expect(logs.find((l) => l.startsWith('warning: '))).toMatch(new RegExp(`names a broken checkpoint: ${file}: .*resuming from the newest complete checkpoint ${path.join(ckRoot, 'step-2')} instead$`));
  expect(r.records.map((x) => x.step)).toEqual([3, 4, 5]);
  // A truncated optimizer file counts too.
  const opt = path.join(ckRoot, 'step-5', 'optimizer.safetensors');
  fs.truncateSync(opt, 100);
  expect(checkpointProblem(path.join(ckRoot, 'step-5'))).toMatch(new RegExp(`^${opt}: `));
});

test('a run stopped before its first checkpoint: --resume latest starts it from scratch (logged); without it the refusal says so', () => {
  const runDir = path.join(dir, 'early');
  // What a kill -9 during the first checkpoint leaves: config, a few metrics lines, a half-written checkpoint.
  fs.mkdirSync(path.join(runDir, 'checkpoints', `.tmp-step-5-${deadPid()}`), { recursive: true });
  fs.writeFileSync(path.join(runDir, 'config.json'), '{}\n');
  fs.writeFileSync(path.join(runDir, 'metrics.jsonl'), '{"step":1,"loss":2}\n');
  expect(() => prepareRunDir(runDir, false)).toThrow(`run folder ${runDir} already exists and is not empty; pass --resume latest to continue it (it holds no checkpoint yet, so that starts it again from scratch)`);
  const logs: string[] = [];
  expect(resolveResume(runDir, 'latest', (l) => logs.push(l))).toBeUndefined();
  expect(logs).toEqual([`${runDir} holds no checkpoint (the run was stopped before its first one): starting it from scratch`]);
  // Named as a run folder, the same.
  expect(resolveResume('/elsewhere', runDir, () => undefined)).toBeUndefined();
  // A checkpoint that exists but is broken is not silently replaced by a fresh start.
  const ck = path.join(runDir, 'checkpoints', 'step-5');
  fs.mkdirSync(ck);
  expect(() => resolveResume(runDir, 'latest', () => undefined)).toThrow(/cannot resume: .*latest not found, and .* holds no other complete checkpoint/);
});

/** A tmpfs of `size` at a fresh folder (root only); undefined where mounting is not possible. */
function mountTmpfs(size: string): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const mnt = fs.mkdtempSync(path.join(dir, 'tmpfs-'));
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]).status === 0 ? mnt : undefined;
}

test('a real full disk (a 3 MiB tmpfs, as root): the failed checkpoint is named and removed, the previous one stays', async () => {
  const mnt = mountTmpfs('3m');
  if (!mnt) {
    console.warn('skipped: mounting a tmpfs needs root (and mount permission); the injected-failure test above covers the logic');
    return;
  }
  try {
    const runDir = path.join(mnt, 'run');
    const ckRoot = path.join(runDir, 'checkpoints');
    // ~164k trained values: a checkpoint is ~0.64 MiB of model + 1.3 MiB of moments, so the second does not fit.
    const err = await run(runDir, { steps: 4, checkpointEvery: 2, keepLast: 1 }, undefined, 1, 8192).then(() => new Error('no error'), (e) => e);
    expect(err.message).toMatch(new RegExp(`^cannot write checkpoint step-4: ENOSPC: no space left on device, write while writing ${ckRoot}/\\.tmp-step-4-${process.pid}/\\S+ \\(`));
    expect(err.message).toMatch(/A checkpoint needs about 1\.9 MiB \(model 0\.6 MiB, optimizer 1\.3 MiB\); \d+\.\d MiB are free there/);
    expect(leftovers(ckRoot)).toEqual([]);
    expect(fs.readdirSync(ckRoot).sort()).toEqual(['latest', 'step-2']);
    expect(checkpointProblem(path.join(ckRoot, 'step-2'))).toBeUndefined();
  } finally {
    spawnSync('umount', [mnt]);
  }
});
