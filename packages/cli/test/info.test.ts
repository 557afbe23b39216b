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
