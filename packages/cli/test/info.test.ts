import { backendInfo, setupBackend } from '@altclip/backend';
import { formatInfo } from '../src/commands/info';

test('altclip info lines name the backend, reason, wasm threads, each patched kernel and the native path', async () => {
  await setupBackend({ backend: 'wasm' });
  const info = backendInfo();
  const text = formatInfo(info, '9.9.9').join('\n');
  expect(text).toContain(`backend:   wasm  (${info.reason})`);
  expect(text).toContain('altclip 9.9.9');
  expect(text).toMatch(/wasm: +SIMD (yes|no), \d+ thread\(s\)/);
  for (const k of info.kernelsPatched) expect(text).toContain(`${k.backend}/${k.kernel}: ${k.what}`);
  expect(text).toContain(`native kernels: ${info.native.note}`);
  if (!info.native.installed) expect(text).toMatch(/native kernels: (not installed|disabled).*\(pure TypeScript\/wasm path\)/);
});

test('on the native backend, altclip info names it, its kernels and its native memory', async () => {
  let built = false;
  try {
    built = !!require('@altclip/native').loadAddon().addon;
  } catch {
    built = false;
  }
  if (!built) {
    console.log('native backend not built: skipped');
    return;
  }
  await setupBackend({ backend: 'native' });
  const info = backendInfo();
  const text = formatInfo(info, '9.9.9').join('\n');
  expect(text).toContain('backend:   native  (requested by --backend)');
  expect(text).toMatch(/native kernels: active as the 'native' backend: .* \d+ native kernels/);
  expect(text).toMatch(/tensors in native memory \(no 4 GiB limit\): \d+ MiB live/);
  expect(info.threads.backend).toBeGreaterThan(0);
});
