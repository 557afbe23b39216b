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

// A wrong backend setting is an error naming it (no tfjs stack trace, no quiet fall-back to a slower backend).
test.each([
  [{ ALTCLIP_ARENA_GB: '-1' }, "ALTCLIP_ARENA_GB must be a positive number of GiB, got '-1'", true],
  [{ ALTCLIP_ARENA_GB: '1e12' }, "ALTCLIP_ARENA_GB must be at most 65536 GiB (the address space a process can reserve), got '1e12'", true],
  [{ ALTCLIP_ARENA_CACHE_MB: 'lots' }, "ALTCLIP_ARENA_CACHE_MB must be a non-negative number of MiB, got 'lots'", true],
  [{ ALTCLIP_NATIVE: '0', ALTCLIP_WASM_THREADS: 'x' }, "wasm threads must be a positive integer, got 'x' (threads option / ALTCLIP_WASM_THREADS)", false],
] as Array<[Record<string, string>, string, boolean]>)('altclip info with %j fails: %s', (env, message, needsNative) => {
  let built = false;
  try {
    built = !!require('@altclip/native').loadAddon().addon;
  } catch {
    built = false;
  }
  if (needsNative && !built) {
    console.log('native backend not built: skipped');
    return;
  }
  const bin = require('path').resolve(__dirname, '..', 'bin', 'altclip.js');
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['ALTCLIP_BACKEND', 'ALTCLIP_NATIVE', 'ALTCLIP_ARENA_GB', 'ALTCLIP_ARENA_CACHE_MB', 'ALTCLIP_WASM_THREADS']) delete clean[k];
  const r = require('child_process').spawnSync(process.execPath, [bin, 'info'], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 60000 });
  expect(r.status).not.toBe(0);
  expect(r.stderr.trim()).toBe(`altclip: ${message}`);
});
