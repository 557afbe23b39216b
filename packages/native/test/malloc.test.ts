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

/**
 * In a child: 1,000 x 64 KiB buffers (under the mmap threshold, so inside malloc's arena), each followed by a small
 * one that stays alive, freed: the MiB the resident set shrinks by at once and after `waitMs` (the addon's trim timer).
 * The kept small blocks pin the arena's top, so glibc cannot give the freed holes back on free.
 */
function holesFreedMiB(loadAddon: boolean, waitMs: number): { atOnce: number; later: number } {
  const child = `
    const v8 = require('v8'), vm = require('vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    if (${loadAddon} && !require(${JSON.stringify(ADDON)}).loadAddon().addon) throw new Error('addon not loaded');
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    let big = []; const small = [];
    for (let i = 0; i < 1000; i++) { const b = Buffer.allocUnsafeSlow(64 << 10); b.fill(1); big.push(b); const s = Buffer.allocUnsafeSlow(1024); s.fill(1); small.push(s); }
    const before = rss(); big = null; gc(); gc();
    const atOnce = before - rss();
    setTimeout(() => process.stdout.write(JSON.stringify({ atOnce, later: before - rss(), kept: small.length })), ${waitMs});`;
  const r = spawnSync(process.execPath, ['-r', REGISTER, '-e', child], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { atOnce: number; later: number };
}

test('with the addon loaded, free holes inside malloc arenas go back to the system within about a second', () => {
  if (!glibc) return console.warn('skipped: not glibc');
  const without = holesFreedMiB(false, 1500);
  expect(without.later).toBeLessThan(20); // the holes stay resident without the trim (what the timer changes)
  const withAddon = holesFreedMiB(true, 1500);
  expect(withAddon.atOnce).toBeLessThan(20); // not returned on free: the trim timer does it
  expect(withAddon.later).toBeGreaterThan(45); // 62.5 MiB freed
});
