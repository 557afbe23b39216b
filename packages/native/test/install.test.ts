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

// The compiled package (`prepare` builds dist/ at npm ci) loaded in a child with `env`: its stderr and thread count.
const loadDist = (env: Record<string, string>) => {
  const dist = path.join(__dirname, '..', 'dist', 'index.js');
  const clean: NodeJS.ProcessEnv = { ...process.env };
  delete clean.ALTCLIP_NATIVE;
  delete clean.ALTCLIP_NATIVE_THREADS;
  return spawnSync(process.execPath, ['-e', `const s = require(${JSON.stringify(dist)}).nativeStatus(); process.stdout.write(String(s.available ? s.threads : s.why))`], {
    env: { ...clean, ...env },
    encoding: 'utf8',
  });
};

describe('settings read when the addon loads', () => {
  const built = loadDist({}).stdout;
  const describeBuilt = /^\d+$/.test(built) ? test : test.skip;

  describeBuilt('ALTCLIP_NATIVE_THREADS: a positive integer is used; anything else warns, naming it, and keeps one per CPU', () => {
    const ok = loadDist({ ALTCLIP_NATIVE_THREADS: '1' });
    expect(ok.stdout).toBe('1');
    expect(ok.stderr).toBe('');
    for (const bad of ['two', '0', '1.5']) {
      const r = loadDist({ ALTCLIP_NATIVE_THREADS: bad });
      expect(r.stdout).toBe(built);
      expect(r.stderr).toContain(`ALTCLIP_NATIVE_THREADS=${bad} is not a positive integer; using ${built} (one per CPU)`);
    }
  });

  describeBuilt('ALTCLIP_NATIVE: only 0 turns the addon off; another value warns that it stays on', () => {
    expect(loadDist({ ALTCLIP_NATIVE: '0' }).stdout).toBe('disabled by ALTCLIP_NATIVE=0');
    const on = loadDist({ ALTCLIP_NATIVE: '1' });
    expect([on.stdout, on.stderr]).toEqual([built, '']);
    const r = loadDist({ ALTCLIP_NATIVE: 'false' });
    expect(r.stdout).toBe(built);
    expect(r.stderr).toContain('ALTCLIP_NATIVE=false is neither 0 (off) nor 1 (on); the addon stays on (ALTCLIP_NATIVE=0 turns it off)');
  });
});
