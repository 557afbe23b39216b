/**
 * `npx altclip` on a fresh clone: npm links bins during `npm ci` before `prepare` compiles dist/, and skips a bin
 * whose file does not exist yet. So the bin must be a committed file, and the lockfile (which `npm ci` follows)
 * must name the same one.
 */
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { REPO_ROOT } from '@altclip/test-utils';

const cliDir = path.join(REPO_ROOT, 'packages', 'cli');
const bin = JSON.parse(fs.readFileSync(path.join(cliDir, 'package.json'), 'utf8')).bin as Record<string, string>;

test('the altclip bin is a committed file, not a build output, and the lockfile agrees', () => {
  expect(Object.keys(bin)).toEqual(['altclip']);
  const rel = path.posix.join('packages/cli', bin.altclip);
  const tracked = execFileSync('git', ['ls-files', '--', rel], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  expect(tracked).toBe(rel);
  expect(fs.statSync(path.join(REPO_ROOT, rel)).mode & 0o111).not.toBe(0);
  const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8'));
  expect(lock.packages['packages/cli'].bin).toEqual(bin);
});

test('the bin runs the built CLI', () => {
  const out = execFileSync(process.execPath, [path.join(cliDir, bin.altclip), '--version'], { encoding: 'utf8' });
  expect(out.trim()).toBe(JSON.parse(fs.readFileSync(path.join(cliDir, 'package.json'), 'utf8')).version);
});
