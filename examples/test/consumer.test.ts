/**
 * Issue 25 item 7: the packages used from another project, as docs/use-from-another-project.md says (route A).
 * Runs the doc's `npm pack` line (the packages zero-shot classification needs), installs the tarballs into a new
 * project outside the repository, and runs examples/consumer's CommonJS, ES module and TypeScript programs there
 * with `node` on the tiny model folder and a fixture image.
 *
 * Needs the npm registry. `npm ci` leaves the dependencies' tarballs in the npm cache but not their registry
 * metadata, which `npm install <tarball>` needs to resolve the tarballs' version ranges: `--offline` fails with
 * ENOTCACHED (tried: @tensorflow/tfjs-backend-wasm). `--prefer-offline` takes what the cache holds. Needs the
 * packages built (`npm ci` builds them; `npx tsc -b`): npm pack ships dist/ as it is.
 * 65-90 s on 2 cores, 45-65 s of it `npm install`, mostly the native addon compiling in the new project.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { fixture, tmpDir, REPO_ROOT, maxAbsDiff } from '@altclip/test-utils';
import { zeroShotImageClassification, LabelScore } from '@altclip/eval';
import { closeSharedPool } from '@altclip/image';
import { makeTinyModelDir } from '../../packages/eval/test/tiny-model';

const DOC = path.join(REPO_ROOT, 'docs', 'use-from-another-project.md');
const EXAMPLES = path.join(REPO_ROOT, 'examples', 'consumer');
const IMAGE = fixture('preprocess', 'images', 'rgb_224x224.png');
const LABELS = ['cat', 'dog', 'car'];

/** The doc's `npm pack` line, as its `-w packages/<name>` names. */
function docPackNames(): string[] {
  const line = fs.readFileSync(DOC, 'utf8').split('\n').find((l) => l.startsWith('npm pack '));
  if (!line) throw new Error(`${DOC}: no line starting with 'npm pack '`);
  return [...line.matchAll(/-w packages\/([a-z-]+)/g)].map((m) => m[1]);
}

/** @altclip/<name> and its @altclip/* dependencies all the way down, read from the packages' package.json. */
function altclipClosure(name: string, seen = new Set<string>()): Set<string> {
  seen.add(name);
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'packages', name, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
    const m = /^@altclip\/(.+)$/.exec(dep);
    if (m && !seen.has(m[1])) altclipClosure(m[1], seen);
  }
  return seen;
}

const PACKED = docPackNames();
const built = PACKED.length > 0 && PACKED.every((p) => fs.existsSync(path.join(REPO_ROOT, 'packages', p, 'dist', 'index.js')));
if (!built) console.warn('consumer.test.ts: skipped: the packages are not built (run `npx tsc -b`); npm pack ships dist/');

/** The environment for npm and node in the new project: ours, with no backend forced unless asked for. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('ALTCLIP_BACKEND' in extra)) delete env.ALTCLIP_BACKEND;
  return env;
}

function run(cmd: string, args: string[], cwd: string, env = childEnv()): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 10 * 60 * 1000, maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    const out = `${r.stderr ?? ''}\n${r.stdout ?? ''}`.trim().slice(-3000);
    throw new Error(`\`${cmd} ${args.join(' ')}\` in ${cwd} failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`}):\n${out}`);
  }
  return r.stdout;
}

/** A consumer program's answer: the last line it prints, `[{label, score}]`. */
function ranking(file: string, env?: NodeJS.ProcessEnv): LabelScore[] {
  const out = run(process.execPath, [file, model, IMAGE, ...LABELS], app, env).trim().split('\n');
  return JSON.parse(out[out.length - 1]);
}

let work: string;
let app: string;
let model: string;
let packed: Array<{ name: string; filename: string; files: Array<{ path: string }> }>;
const seconds: Record<string, number> = {};

function timed<T>(name: string, fn: () => T): T {
  const t0 = Date.now();
  const r = fn();
  seconds[name] = Math.round((Date.now() - t0) / 100) / 10;
  return r;
}

test("the doc packs @altclip/eval with all of its @altclip/* dependencies, and shows examples/consumer's programs", () => {
  expect([...PACKED].sort()).toEqual([...altclipClosure('eval')].sort());
  const doc = fs.readFileSync(DOC, 'utf8');
  for (const file of ['index.cjs', 'tsconfig.json']) {
    const src = fs.readFileSync(path.join(EXAMPLES, file), 'utf8');
    const body = src.slice(src.search(/^(const|\{)/m)); // from the first statement, without the header comment
    expect({ file, inDoc: doc.includes(body) }).toEqual({ file, inDoc: true });
  }
});

const describeBuilt = built ? describe : describe.skip;
describeBuilt('route A: npm pack, npm install into a new project, node index.cjs / index.mjs / tsc output', () => {
  beforeAll(async () => {
    work = tmpDir('altclip-consumer-');
    app = path.join(work, 'my-app');
    const vendor = path.join(app, 'vendor');
    fs.mkdirSync(vendor, { recursive: true });
    const ws = PACKED.flatMap((p) => ['-w', `packages/${p}`]);
    packed = timed('npm pack', () => JSON.parse(run('npm', ['pack', '--json', '--pack-destination', vendor, ...ws], REPO_ROOT)));
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'my-app', version: '1.0.0', private: true }, null, 2));
    for (const f of ['index.cjs', 'index.mjs', 'index.ts', 'tsconfig.json']) fs.copyFileSync(path.join(EXAMPLES, f), path.join(app, f));
    fs.copyFileSync(path.join(EXAMPLES, 'index.ts'), path.join(app, 'index.mts')); // the same source as an ES module
    const tarballs = packed.map((p) => `./vendor/${p.filename}`);
    // The doc's two installs (the tarballs; @types/node for TypeScript) in one: one resolution instead of two.
    timed('npm install', () => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs, '@types/node@20'], app));
    model = await makeTinyModelDir(path.join(work, 'model'));
    // The repository's TypeScript compiler, so that the test does not download one.
    timed('tsc', () => run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', '.'], app));
  }, 15 * 60 * 1000);

  afterAll(async () => {
    await closeSharedPool();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    console.log(`consumer.test.ts seconds: ${JSON.stringify(seconds)}`);
  });

  test('each tarball holds its dist/ (index.js, index.d.ts) and package.json, no sources or tests', () => {
    expect(packed.map((p) => p.name).sort()).toEqual(PACKED.map((p) => `@altclip/${p}`).sort());
    for (const p of packed) {
      const files = p.files.map((f) => f.path);
      expect({ name: p.name, has: ['package.json', 'dist/index.js', 'dist/index.d.ts'].filter((f) => files.includes(f)).length }).toEqual({ name: p.name, has: 3 });
      expect({ name: p.name, sources: files.filter((f) => /^(src|test)\//.test(f)) }).toEqual({ name: p.name, sources: [] });
    }
  });

  test('node index.cjs and node index.mjs print the same ranking, scores summing to 1, equal to the repository\'s pipeline', async () => {
    const cjs = timed('node index.cjs', () => ranking('index.cjs'));
    const mjs = timed('node index.mjs', () => ranking('index.mjs'));
    expect(mjs).toEqual(cjs);
    expect(cjs.map((r) => r.label).sort()).toEqual([...LABELS].sort());
    for (let i = 1; i < cjs.length; i++) expect(cjs[i - 1].score).toBeGreaterThanOrEqual(cjs[i].score);
    expect(cjs.reduce((a, r) => a + r.score, 0)).toBeCloseTo(1, 6);
    // The installed tarballs compute what the repository's own sources compute (in this process).
    const classify = await zeroShotImageClassification(model);
    const ref = await classify(IMAGE, LABELS);
    classify.dispose();
    expect(cjs.map((r) => r.label)).toEqual(ref.map((r) => r.label));
    expect(maxAbsDiff(cjs.map((r) => r.score), ref.map((r) => r.score))).toBeLessThan(1e-5);
  });

  test('an ES module sees every export of every installed @altclip package as a named import (cjs-module-lexer)', () => {
    const check = path.join(app, 'named-exports.mjs');
    fs.writeFileSync(check, [
      "import { createRequire } from 'module';",
      'const require = createRequire(import.meta.url);',
      'const missing = {};',
      `for (const name of ${JSON.stringify(PACKED.map((p) => `@altclip/${p}`))}) {`,
      "  const names = Object.keys(require(name)).filter((k) => k !== '__esModule');",
      '  const ns = await import(name);',
      '  missing[name] = { exports: names.length, notNamed: names.filter((k) => !(k in ns)) };',
      '}',
      'console.log(JSON.stringify(missing));',
    ].join('\n'));
    const r = JSON.parse(run(process.execPath, [check], app).trim());
    for (const p of PACKED) {
      expect(r[`@altclip/${p}`].exports).toBeGreaterThan(0);
      expect({ name: p, notNamed: r[`@altclip/${p}`].notNamed }).toEqual({ name: p, notNamed: [] });
    }
  });

  test('index.ts compiles with "module": "nodenext" to CommonJS (.ts) and to an ES module (.mts); both run', () => {
    expect(fs.readFileSync(path.join(app, 'dist', 'index.js'), 'utf8')).toMatch(/require\("@altclip\/eval"\)/);
    expect(fs.readFileSync(path.join(app, 'dist', 'index.mjs'), 'utf8')).toMatch(/^import \{ zeroShotImageClassification \} from '@altclip\/eval';/m);
    const cjs = ranking('index.cjs');
    expect(ranking(path.join('dist', 'index.js'))).toEqual(cjs);
    expect(ranking(path.join('dist', 'index.mjs'))).toEqual(cjs);
  });

  test('the wasm path (no native addon) gives the same ranking; the addon, when it built in the new project, is the default', () => {
    const auto = run(process.execPath, ['-e', "require('@altclip/backend').setupBackend().then((c) => console.log(c.name))"], app).trim();
    const addon = fs.existsSync(path.join(app, 'node_modules', '@altclip', 'native', 'build', 'Release', 'altclip_native.node'));
    console.log(`consumer.test.ts: the native addon ${addon ? 'built' : 'did not build'} in the new project; default backend: ${auto}`);
    // tfjs-node installs (and is preferred) only where its install could download libtensorflow.
    if (auto !== 'tensorflow') expect(auto).toBe(addon ? 'native' : 'wasm');
    const wasm = ranking('index.cjs', childEnv({ ALTCLIP_BACKEND: 'wasm' }));
    const cjs = ranking('index.cjs');
    expect(wasm.map((r) => r.label)).toEqual(cjs.map((r) => r.label));
    expect(maxAbsDiff(wasm.map((r) => r.score), cjs.map((r) => r.score))).toBeLessThan(1e-5);
  });
});
