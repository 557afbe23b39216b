import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, setupBackend } from '@altclip/backend';
import { loadBackends, on, rand, refMatMul, relErr } from './helpers';

// This file starts wasm with 2 threads (jest gives each test file its own tfjs instance).
beforeAll(async () => {
  await setupBackend({ backend: 'wasm', threads: 2 });
  await loadBackends();
});

test('the threaded SIMD build starts in Node with the requested thread count', () => {
  const w = backendInfo().wasm!;
  expect(w.multithreadBuild).toBe(true);
  expect(w.threads).toBe(2);
  // os.cpus() reports 2 x threads cores only while wasm initialises; afterwards it is Node's own again
  expect(os.cpus).toBe(require('os').cpus);
  expect(Object.getOwnPropertyDescriptor(require('os'), 'cpus')?.value?.name).toBe('cpus');
});

test('threaded matmul (XNNPACK pool), batched/transposed and through the patches, is still exact', async () => {
  for (const [M, K, N, tA, tB] of [[64, 96, 80, false, false], [33, 17, 65, true, true]] as const) {
    const aShape = [3, ...(tA ? [K, M] : [M, K])];
    const bShape = [3, ...(tB ? [N, K] : [K, N])];
    const a = rand(3 * M * K, M);
    const b = rand(3 * K * N, N);
    const [got] = await on('wasm', () => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), tA, tB));
    expect(relErr(got, refMatMul(a, aShape, b, bShape, tA, tB).data)).toBeLessThan(1e-5);
  }
});

test('a Node process that started threaded wasm exits by itself (pool workers do not hold it open)', () => {
  // Runs the built package (npm ci builds it) in a child process: jest itself would hide a hang.
  const dist = require('path').resolve(__dirname, '..', 'dist', 'index.js');
  if (!require('fs').existsSync(dist)) throw new Error(`${dist} is missing: build first (npx tsc -b packages/backend)`);
  const script = `const b = require(${JSON.stringify(dist)});
    b.setupBackend({ backend: 'wasm', threads: 2 }).then(() => console.log('threads=' + b.backendInfo().wasm.threads));`;
  const r = require('child_process').spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000, env: { ...process.env, JEST_WORKER_ID: '' } });
  expect(r.error).toBeUndefined(); // a timeout (the process did not exit) shows up here
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('threads=2');
});
