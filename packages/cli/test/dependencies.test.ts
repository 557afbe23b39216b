/**
 * The packages form a layered graph: every `@altclip/*` import in a package's sources is a dependency declared in
 * its package.json, and the declared graph has no cycle (a package never needs one above it at run time).
 */
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT } from '@altclip/test-utils';

const PACKAGES = path.join(REPO_ROOT, 'packages');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.ts$/.test(e.name) ? [p] : [];
  });
}

const pkgs = fs.readdirSync(PACKAGES).filter((p) => fs.existsSync(path.join(PACKAGES, p, 'package.json')));
const manifest = (p: string) => JSON.parse(fs.readFileSync(path.join(PACKAGES, p, 'package.json'), 'utf8'));
const declared = (p: string): string[] => Object.keys({ ...manifest(p).dependencies, ...manifest(p).optionalDependencies }).filter((d) => d.startsWith('@altclip/'));

test.each(pkgs)('@altclip/%s imports only packages it declares', (p) => {
  const used = new Set<string>();
  for (const f of sources(path.join(PACKAGES, p, 'src'))) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/(?:from\s+|require\(|import\()\s*'(@altclip\/[a-z-]+)/g)) used.add(m[1]);
  }
  used.delete(manifest(p).name);
  expect([...used].filter((u) => !declared(p).includes(u)).sort()).toEqual([]);
});

test('the declared dependencies between the packages have no cycle', () => {
  const byName = new Map(pkgs.map((p) => [manifest(p).name as string, p]));
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') return void cycles.push([...trail, name].join(' -> '));
    state.set(name, 'visiting');
    for (const d of declared(byName.get(name)!)) visit(d, [...trail, name]);
    state.set(name, 'done');
  };
  for (const n of byName.keys()) visit(n, []);
  expect(cycles).toEqual([]);
});
