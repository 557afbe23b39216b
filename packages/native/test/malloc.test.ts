/**
 * Loading the addon fixes glibc's mmap threshold (issue 24, item 15): freed large buffers go back to the system
 * instead of staying in malloc's arenas, where image decoding on several threads made resident memory creep.
 */
import * as path from 'path';
import { spawnSync } from 'child_process';

const ADDON = path.join(__dirname, '..', 'src', 'addon.ts');
// Runs TypeScript sources in a child (as the train package's signal tests do).
const REGISTER = path.join(__dirname, '..', '..', 'train', 'test', 'child', 'register-ts.js');
const glibc = !!(process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;

/**
 * In a child: one 4 MiB buffer freed (glibc then raises its threshold to 4 MiB), then 200 x 1 MiB buffers, each
 * followed by a small one that stays alive, freed: the MiB the resident set shrinks by.
 */
function freedMiB(loadAddon: boolean): number {
  const child = `
    const v8 = require('v8'), vm = require('vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    if (${loadAddon} && !require(${JSON.stringify(ADDON)}).loadAddon().addon) throw new Error('addon not loaded');
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    let warm = Buffer.allocUnsafeSlow(4 << 20); warm.fill(1); warm = null; gc(); gc();
    let big = []; const small = [];
    for (let i = 0; i < 200; i++) { const b = Buffer.allocUnsafeSlow(1 << 20); b.fill(1); big.push(b); const s = Buffer.allocUnsafeSlow(4096); s.fill(1); small.push(s); }
    const before = rss(); big = null; gc(); gc();
    process.stdout.write(String(before - rss()));`;
  const r = spawnSync(process.execPath, ['-r', REGISTER, '-e', child], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout);
}

test('with the addon loaded, 200 MiB of freed buffers leave the resident set; without, glibc keeps them', () => {
  if (!glibc) return console.warn('skipped: not glibc');
  expect(freedMiB(true)).toBeGreaterThan(150);
  expect(freedMiB(false)).toBeLessThan(100); // the behaviour the setting changes (glibc's dynamic threshold)
});
