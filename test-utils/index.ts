import * as fs from 'fs';
import * as path from 'path';

/** Repository root (the folder holding jest.config.js). */
export const REPO_ROOT = path.resolve(__dirname, '..');

/**
 * The shared reference fixtures live beside the checkout (`../shared/fixtures`); ALTCLIP_SHARED overrides it.
 * Tests read them in place.
 */
export const SHARED = process.env.ALTCLIP_SHARED ?? path.resolve(REPO_ROOT, '..', 'shared');
export const FIXTURES = path.join(SHARED, 'fixtures');

export function fixture(...parts: string[]): string {
  const p = path.join(FIXTURES, ...parts);
  if (!fs.existsSync(p)) throw new Error(`fixture not found: ${p} (set ALTCLIP_SHARED to the shared/ folder)`);
  return p;
}

/** A fresh temporary directory, removed by the caller (or left for inspection on failure). */
export function tmpDir(prefix = 'altclip-test-'): string {
  return fs.mkdtempSync(path.join(require('os').tmpdir(), prefix));
}

/** max |a - b| over two equally long numeric arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
export * from './hub-server';
export * from './python';
export * from './backends';
