import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, setupBackend } from '@altclip/backend';
import { describeOnTensorflow } from '@altclip/test-utils';

test('backendInfo describes the wasm backend, its patches and gradients after setupBackend', async () => {
  const choice = await setupBackend({ backend: 'wasm' });
  const info = backendInfo();
  expect(info.backend).toBe('wasm');
  expect(info.reason).toBe(choice.reason);
  expect(info.versions['tfjs-core']).toBe(tf.version_core);
  expect(info.versions['tfjs-backend-wasm']).toMatch(/^4\./);
  expect(info.wasm).toBeDefined();
  expect(info.wasm!.threads).toBeGreaterThanOrEqual(1);
  expect(info.threads.backend).toBe(info.wasm!.threads);
  expect(info.kernelsPatched.map((k) => `${k.backend}/${k.kernel}`)).toEqual(
    expect.arrayContaining(['wasm/BatchMatMul', 'wasm/_FusedMatMul', 'wasm/UnsortedSegmentSum', 'wasm/Conv2DBackpropFilter']),
  );
  // every gradient a transformer needs comes from tfjs-core's files (the CommonJS bundle registers none)
  expect(info.gradientsRegistered).toBeGreaterThan(90);
  for (const k of ['BatchMatMul', 'GatherV2', 'Softmax', 'Erf', 'Sum', 'Greater']) expect(tf.getGradient(k)).toBeDefined();
  // without @altclip/native (or with ALTCLIP_NATIVE=0) the note says the pure TypeScript/wasm path is in use
  if (!info.native.installed) expect(info.native.note).toMatch(/^(not installed|disabled).*\(pure TypeScript\/wasm path\)/);
  else expect(info.native.note.length).toBeGreaterThan(0);
  expect(info.memory.rssMiB).toBeGreaterThan(0);
});

test('setupBackend({patchKernels: false}) leaves the stock kernels', async () => {
  await setupBackend({ backend: 'wasm', patchKernels: false });
  expect(backendInfo().kernelsPatched).toEqual([]);
  await setupBackend({ backend: 'wasm' });
  expect(backendInfo().kernelsPatched.length).toBeGreaterThan(0);
});

const installed = (p: string) => {
  try {
    require.resolve(p);
    return true;
  } catch {
    return false;
  }
};

test('an explicitly requested backend that is not installed is an error, not a fallback', async () => {
  if (!installed('@tensorflow/tfjs-node') && !installed('@tensorflow/tfjs-node-gpu')) {
    await expect(setupBackend({ backend: 'tensorflow' })).rejects.toThrow(/backend 'tensorflow' was requested but is not available/);
  }
  await expect(setupBackend({ backend: 'nope' as never })).rejects.toThrow(/unknown backend 'nope'/);
});

test('backendSummary: one calm line; the reasons a preferred backend was skipped are left to altclip info', () => {
  const { backendSummary } = require('@altclip/backend');
  const skipped = [{ name: 'tensorflow', why: "neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed (Cannot find module '@tensorflow/tfjs-node')" }];
  expect(backendSummary({ name: 'native', reason: 'best available', skipped })).toBe("backend: native (the best available here; 'altclip info' says why not tensorflow)");
  expect(backendSummary({ name: 'native', reason: 'best available', skipped: [] })).toBe('backend: native');
  expect(backendSummary({ name: 'wasm', reason: 'requested by --backend', skipped: [] })).toBe('backend: wasm (requested by --backend)');
});

// Issue 22: with tfjs-node loaded, info names the TensorFlow under it (its C API's TF_Version) and where it came from.
describeOnTensorflow('backendInfo', (backend) => {
  test('names the TensorFlow version in use, its library and device', async () => {
    await setupBackend({ backend });
    const info = backendInfo();
    const binding = (tf.backend() as unknown as { binding: { TF_Version: string } }).binding;
    expect(info.backend).toBe('tensorflow');
    expect(info.tensorflow).toBeDefined();
    expect(info.tensorflow!.tensorflow).toBe(binding.TF_Version);
    expect(info.versions.tensorflow.startsWith(`${binding.TF_Version} (`)).toBe(true);
    expect(info.versions['tfjs-node'] ?? info.versions['tfjs-node-gpu']).toBe('4.22.0');
    // A build by `npm run setup:tensorflow` says so and which wheel; the stamp it wrote agrees with the C API.
    const pkgDir = fs.realpathSync(path.dirname(require.resolve(`${info.tensorflow!.package}/package.json`)));
    const stamp = path.join(pkgDir, 'deps', 'built-against.json');
    if (fs.existsSync(stamp)) {
      const built = JSON.parse(fs.readFileSync(stamp, 'utf8'));
      expect(built.version).toBe(binding.TF_Version);
      expect(info.tensorflow!.library).toBe(`built by npm run setup:tensorflow against the C API of ${built.wheel}`);
    } else expect(info.tensorflow!.library).toMatch(/^libtensorflow downloaded by @tensorflow\/tfjs-node/);
    expect(['CPU', 'GPU']).toContain(info.tensorflow!.device);
  });
});
