#!/usr/bin/env node
// `npm run setup:tensorflow`: a working @tensorflow/tfjs-node (the `tensorflow` backend) without downloading
// libtensorflow. tfjs-node's own install step fetches libtensorflow 2.9.1 and a prebuilt binding from Google's
// storage; where that is unreachable it fails and npm drops the optional dependency. This script instead
//   1. installs tfjs-node 4.22.0 and its JS dependencies from the npm registry, without install scripts
//      (scripts/tensorflow/package-lock.json pins them), into .cache/tensorflow/npm;
//   2. takes the TensorFlow C API (libtensorflow_cc.so.2, libtensorflow_framework.so.2, the C headers) from the
//      `tensorflow-cpu` wheel that pip can fetch (`pip download`, so a local index such as PIP_INDEX_URL works),
//      or from --wheel <file>;
//   3. compiles tfjs-node's binding against it with node-gyp (the installed Node's headers, no download);
//   4. links node_modules/@tensorflow/tfjs-node to the build and checks tf.getBackend() and a gradient.
// Everything it writes lives in .cache/tensorflow (git-ignored) plus that one link; a second run reuses what is
// there (--force redoes it). `npm ci`/`npm install` remove the link: run this again (it takes seconds then).
// Users with internet access need none of this: `npm install` gives tfjs-node with libtensorflow 2.9.1.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
// Inside the repository on purpose: packages removed from CACHE/npm/node_modules resolve from ROOT/node_modules.
const CACHE = path.join(ROOT, '.cache', 'tensorflow');
const NPM_DIR = path.join(CACHE, 'npm');
const TFJS_NODE = path.join(NPM_DIR, 'node_modules', '@tensorflow', 'tfjs-node');
const LINK = path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node');
const DEFAULT_TF = '2.21.0';
// Packages the repository already has: tfjs-node must use the same copies (one tfjs engine, one cpu backend).
const SHARED = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu'];

const USAGE = `usage: npm run setup:tensorflow [-- options]
  --wheel <file>    use this tensorflow / tensorflow-cpu wheel instead of \`pip download tensorflow-cpu==${DEFAULT_TF}\`
  --python <exe>    the Python whose pip downloads the wheel and unpacks it (default: python3)
  --force           redo every step (default: reuse what .cache/tensorflow already holds)
  --verbose         show the compiler's output
pip's settings apply (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, pip.conf), e.g. PIP_INDEX_URL=file:///opt/pypi/simple.`;

class SetupError extends Error {}

function parseArgs(argv) {
  const o = { wheel: undefined, python: 'python3', force: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--force') o.force = true;
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--wheel' || a === '--python') {
      if (!argv[i + 1]) throw new SetupError(`${a} needs a value\n${USAGE}`);
      o[a.slice(2)] = argv[++i];
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new SetupError(`unknown option '${a}'\n${USAGE}`);
  }
  if (o.wheel && !fs.existsSync(o.wheel)) throw new SetupError(`--wheel ${o.wheel}: no such file`);
  return o;
}

const t0 = Date.now();
const secs = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const step = (msg) => console.log(`setup:tensorflow [${secs()}] ${msg}`);

/** Runs a command; on failure throws with its last output lines (or streams everything when verbose). */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: opts.verbose ? 'inherit' : 'pipe', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new SetupError(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n').slice(-15).join('\n');
    throw new SetupError(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} ... failed (exit ${r.status})${tail ? `:\n${tail}` : ''}`);
  }
  return r.stdout || '';
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** The installed Node's headers (node-gyp would otherwise download them). */
function nodeDir() {
  const prefix = path.join(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return path.resolve(prefix);
  throw new SetupError(`Node's headers are not installed (${path.resolve(prefix, 'include/node/node_api.h')}); install Node from a package that ships them (nodejs.org tarballs, NodeSource .deb)`);
}

function checkPlatform(o) {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new SetupError(`only linux-x64 is supported (the tensorflow-cpu wheel's C API); this is ${process.platform}-${process.arch}`);
  const cxx = (process.env.CXX || 'c++').split(' ')[0];
  if (!has(cxx) || !has('make')) throw new SetupError(`a C++ compiler (${cxx}) and make are needed (Debian/Ubuntu: apt-get install -y build-essential)`);
  if (!has(o.python)) throw new SetupError(`${o.python} not found (it downloads and unpacks the wheel; --python <exe> picks another)`);
  return nodeDir();
}

/** node-gyp: npm's own copy (npm sets npm_config_node_gyp) or the one beside npm. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  const found = candidates.find((p) => p && fs.existsSync(p));
  if (!found) throw new SetupError('node-gyp not found (it comes with npm; run this through `npm run setup:tensorflow`)');
  return found;
}

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
const sameFile = (a, b) => fs.existsSync(a) && fs.existsSync(b) && fs.readFileSync(a).equals(fs.readFileSync(b));

/** Step 1: tfjs-node and its JS dependencies, install scripts off, sharing the repository's tfjs-core/-backend-cpu. */
function installJs(o) {
  const lockSrc = path.join(__dirname, 'tensorflow', 'package-lock.json');
  const lockDst = path.join(NPM_DIR, 'package-lock.json');
  const installed = path.join(TFJS_NODE, 'package.json');
  if (!o.force && sameFile(lockSrc, lockDst) && fs.existsSync(installed)) {
    step('tfjs-node 4.22.0 already installed in .cache/tensorflow/npm');
  } else {
    step('installing @tensorflow/tfjs-node 4.22.0 and its dependencies from the npm registry (install scripts off) ...');
    fs.mkdirSync(NPM_DIR, { recursive: true });
    for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(__dirname, 'tensorflow', f), path.join(NPM_DIR, f));
    fs.rmSync(path.join(NPM_DIR, 'node_modules'), { recursive: true, force: true });
    run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: NPM_DIR, verbose: o.verbose });
  }
  for (const name of SHARED) {
    const mine = path.join(ROOT, 'node_modules', name);
    const theirs = path.join(NPM_DIR, 'node_modules', name);
    if (!fs.existsSync(path.join(mine, 'package.json'))) throw new SetupError(`${mine} is missing: run \`npm ci\` in ${ROOT} first`);
    const want = readJson(path.join(NPM_DIR, 'node_modules', '@tensorflow', 'tfjs', 'package.json')).dependencies[name];
    const have = readJson(path.join(mine, 'package.json')).version;
    if (want !== have) throw new SetupError(`@tensorflow/tfjs 4.22.0 wants ${name} ${want}, the repository has ${have}: update scripts/tensorflow/package.json with the repository's tfjs version`);
    fs.rmSync(theirs, { recursive: true, force: true });
    fs.symlinkSync(path.relative(path.dirname(theirs), mine), theirs);
  }
}

/** The TensorFlow C API headers the binding includes, and every header they include in turn. */
function bindingIncludes() {
  const dir = path.join(TFJS_NODE, 'binding');
  const out = new Set();
  for (const f of fs.readdirSync(dir)) for (const m of fs.readFileSync(path.join(dir, f), 'utf8').matchAll(/#include\s+"(tensorflow\/[^"]+)"/g)) out.add(m[1]);
  return [...out];
}

// Unpacks the two libraries and the header closure of the given roots from a wheel (a zip) into OUT/{lib,include}.
const UNPACK_PY = `
import json, re, sys, zipfile, shutil, os
wheel, out, roots = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
z = zipfile.ZipFile(wheel)
names = set(z.namelist())
inc = 'tensorflow/include/'
libs = ['tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2']
missing = [n for n in libs + [inc + r for r in roots] if n not in names]
if missing:
    sys.exit('the wheel lacks ' + ', '.join(missing) + ' (is it a tensorflow / tensorflow-cpu 2.x wheel for linux x86_64?)')
seen, todo = set(), list(roots)
while todo:
    h = todo.pop()
    if h in seen: continue
    seen.add(h)
    todo += [i for i in re.findall(r'^\\s*#\\s*include\\s+"([^"]+)"', z.read(inc + h).decode(), re.M) if inc + i in names]
for h in seen:
    os.makedirs(os.path.dirname(os.path.join(out, 'include', h)), exist_ok=True)
    with z.open(inc + h) as src, open(os.path.join(out, 'include', h), 'wb') as dst: shutil.copyfileobj(src, dst)
os.makedirs(os.path.join(out, 'lib'), exist_ok=True)
for n in libs:
    with z.open(n) as src, open(os.path.join(out, 'lib', os.path.basename(n)), 'wb') as dst: shutil.copyfileobj(src, dst, 1 << 24)
print(len(seen))
`;

/** The wheel file: --wheel, or `pip download` of tensorflow-cpu==DEFAULT_TF into a temporary folder. */
function getWheel(o) {
  if (o.wheel) return { file: path.resolve(o.wheel), temp: undefined };
  const temp = path.join(CACHE, 'download');
  fs.rmSync(temp, { recursive: true, force: true });
  step(`downloading tensorflow-cpu==${DEFAULT_TF} with ${o.python} -m pip download (about 260 MB) ...`);
  try {
    run(o.python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--dest', temp, `tensorflow-cpu==${DEFAULT_TF}`], { verbose: o.verbose });
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw new SetupError(`${e.message}\npip could not get tensorflow-cpu==${DEFAULT_TF}: point pip at an index that has it (PIP_INDEX_URL=file:///opt/pypi/simple) or pass --wheel <file>`);
  }
  const file = fs.readdirSync(temp).find((f) => f.endsWith('.whl'));
  if (!file) throw new SetupError(`pip download left no wheel in ${temp}`);
  return { file: path.join(temp, file), temp };
}

const wheelVersion = (file) => /^tensorflow(?:_cpu)?-([0-9][^-]*)-/.exec(path.basename(file))?.[1];

/** Step 2: the TensorFlow C API from the wheel, in .cache/tensorflow/libtensorflow-<version>. */
function getLibTensorFlow(o) {
  const version = o.wheel ? wheelVersion(o.wheel) : DEFAULT_TF;
  if (!version) throw new SetupError(`--wheel ${o.wheel}: not a tensorflow or tensorflow-cpu wheel (name tensorflow[_cpu]-<version>-...whl)`);
  const dir = path.join(CACHE, `libtensorflow-${version}`);
  if (!o.force && fs.existsSync(path.join(dir, 'done.json'))) {
    step(`TensorFlow ${version} C API already unpacked in ${path.relative(ROOT, dir)}`);
    return { dir, version, wheel: readJson(path.join(dir, 'done.json')).wheel };
  }
  const { file, temp } = getWheel(o);
  const wheel = path.basename(file);
  if (wheelVersion(file) !== version) throw new SetupError(`pip gave ${wheel}, not tensorflow-cpu ${version}`);
  step(`unpacking libtensorflow_cc.so.2, libtensorflow_framework.so.2 and the C API headers from ${wheel} ...`);
  const partial = `${dir}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  const n = run(o.python, ['-c', UNPACK_PY, file, partial, JSON.stringify(bindingIncludes())]).trim();
  fs.writeFileSync(path.join(partial, 'done.json'), JSON.stringify({ version, wheel, headers: Number(n) }, null, 2));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(partial, dir);
  if (temp) fs.rmSync(temp, { recursive: true, force: true });
  return { dir, version, wheel };
}

/** Where tfjs-node looks for its binding at run time (node-pre-gyp's rule: lib/napi-v<highest supported>). */
function bindingPath() {
  const binary = require(require.resolve('@mapbox/node-pre-gyp', { paths: [TFJS_NODE] }));
  return binary.find(path.join(TFJS_NODE, 'package.json'));
}

/** Step 3: deps/{include,lib} as tfjs-node's binding.gyp expects them, then node-gyp. */
function buildBinding(o, lib, nodedir) {
  const target = bindingPath();
  const stamp = path.join(TFJS_NODE, 'deps', 'built-against.json');
  if (!o.force && fs.existsSync(target) && fs.existsSync(stamp) && readJson(stamp).version === lib.version) {
    step(`binding already built against TensorFlow ${lib.version}: ${path.relative(ROOT, target)}`);
    return target;
  }
  const deps = path.join(TFJS_NODE, 'deps');
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(path.join(deps, 'lib'), { recursive: true });
  const rel = (to, from) => path.relative(from, to);
  fs.symlinkSync(rel(path.join(lib.dir, 'include'), deps), path.join(deps, 'include'));
  const libDir = path.join(deps, 'lib');
  // -ltensorflow finds libtensorflow.so; the binding then records libtensorflow_cc.so.2 (its SONAME), found at run
  // time through binding.gyp's rpath $ORIGIN/../../deps/lib.
  const links = {
    'libtensorflow_cc.so.2': path.join(lib.dir, 'lib', 'libtensorflow_cc.so.2'),
    'libtensorflow_framework.so.2': path.join(lib.dir, 'lib', 'libtensorflow_framework.so.2'),
    'libtensorflow.so': 'libtensorflow_cc.so.2',
    'libtensorflow.so.2': 'libtensorflow_cc.so.2',
    'libtensorflow_framework.so': 'libtensorflow_framework.so.2',
  };
  for (const [name, to] of Object.entries(links)) fs.symlinkSync(path.isAbsolute(to) ? rel(to, libDir) : to, path.join(libDir, name));
  const napi = /napi-v(\d+)/.exec(target)[1];
  step(`compiling tfjs-node's binding against TensorFlow ${lib.version} (node-gyp, Node headers in ${nodedir}) ...`);
  const gypArgs = [nodeGyp(), 'rebuild', `--nodedir=${nodedir}`, '--module_name=tfjs_binding', `--module_path=${path.dirname(target)}`, `--napi_build_version=${napi}`, '--jobs=max'];
  run(process.execPath, gypArgs, { cwd: TFJS_NODE, verbose: o.verbose });
  fs.writeFileSync(stamp, JSON.stringify({ version: lib.version, wheel: lib.wheel, napi: Number(napi), node: process.version }, null, 2));
  return target;
}

/** Refuses, before any work, to replace a tfjs-node that npm installed (with its own libtensorflow). */
function checkLinkable(o) {
  let st;
  try {
    st = fs.lstatSync(LINK);
  } catch {
    return;
  }
  if (!st.isSymbolicLink() && !o.force) {
    throw new SetupError(`${LINK} is already installed (by npm, with its own libtensorflow); leaving it alone. Remove it or pass --force to use the local build instead`);
  }
}

/** Step 4: node_modules/@tensorflow/tfjs-node -> the build. */
function link() {
  fs.rmSync(LINK, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(LINK), { recursive: true });
  fs.symlinkSync(path.relative(path.dirname(LINK), TFJS_NODE), LINK);
}

// Run from the repository root in a fresh process: the backend and a gradient through a matMul.
const CHECK_JS = `
const tf = require('@tensorflow/tfjs-node');
const a = tf.tensor2d([[1, 2], [3, 4]]), b = tf.tensor2d([[5, 6], [7, 8]]);
// d/dA sum(A B) = 1 B^T: every row holds B's row sums, [11, 15].
const g = Array.from(tf.grad((x) => tf.matMul(x, b).sum())(a).dataSync());
const ok = tf.getBackend() === 'tensorflow' && JSON.stringify(g) === '[11,15,11,15]';
console.log(JSON.stringify({ ok, backend: tf.getBackend(), tf: tf.backend().binding.TF_Version, grad: g }));
`;

function verify() {
  const out = run(process.execPath, ['-e', CHECK_JS], { cwd: ROOT, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  const r = JSON.parse(out.trim().split('\n').pop());
  if (!r.ok) throw new SetupError(`check failed: backend ${r.backend}, gradient ${JSON.stringify(r.grad)} (expected [11,15,11,15])`);
  return r;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const nodedir = checkPlatform(o);
  checkLinkable(o);
  installJs(o);
  const lib = getLibTensorFlow(o);
  const binding = buildBinding(o, lib, nodedir);
  link();
  const r = verify();
  step(`done: tf.getBackend() is '${r.backend}' on TensorFlow ${r.tf} (the C API of ${lib.wheel}); tf.grad through a matMul checked`);
  console.log(`  binding: ${path.relative(ROOT, binding)}\n  linked:  node_modules/@tensorflow/tfjs-node -> ${path.relative(ROOT, TFJS_NODE)}`);
  console.log('  use it: ALTCLIP_BACKEND=tensorflow (or --backend tensorflow); `altclip info` shows the TensorFlow version');
}

try {
  main();
} catch (e) {
  if (!(e instanceof SetupError)) throw e;
  console.error(`setup:tensorflow: ${e.message}`);
  process.exit(1);
}
