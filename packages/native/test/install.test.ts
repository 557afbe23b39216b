/** The install script never fails an install, and the hook-up honours ALTCLIP_NATIVE=0. */
import * as path from 'path';
import { spawnSync } from 'child_process';
import { nativeInfo } from '@altclip/backend';

const script = path.join(__dirname, '..', 'scripts', 'install.js');
const runInstall = (env: Record<string, string>) => spawnSync(process.execPath, [script], { env: { ...process.env, ...env }, encoding: 'utf8' });

test('without a compiler the install prints one line with what to install and exits 0', () => {
  const r = runInstall({ CXX: '/nonexistent/c++' });
  expect(r.status).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^@altclip\/native: not built \(no C\+\+ compiler or make \(\/nonexistent\/c\+\+\)\); using the pure TypeScript path/);
  expect(lines[0]).toContain('apt-get install -y build-essential libopenblas-dev');
  expect(lines[0]).toContain('npm rebuild @altclip/native');
});

test('ALTCLIP_NATIVE=0 skips the build at install and turns the fast path off at run time', () => {
  const r = runInstall({ ALTCLIP_NATIVE: '0' });
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/not built \(ALTCLIP_NATIVE=0\)/);
  const before = process.env.ALTCLIP_NATIVE;
  process.env.ALTCLIP_NATIVE = '0';
  try {
    expect(nativeInfo()).toEqual({ installed: false, active: false, kernels: [], note: 'disabled by ALTCLIP_NATIVE=0 (pure TypeScript/wasm path)' });
  } finally {
    if (before === undefined) delete process.env.ALTCLIP_NATIVE;
    else process.env.ALTCLIP_NATIVE = before;
  }
});
