#!/usr/bin/env node
// Builds the addon with node-gyp (against OpenBLAS when present, else with the built-in SGEMM). Never fails the
// install: without a compiler, make or node-gyp, or when the build fails, it prints
// one line and exits 0, and the project runs on the pure TypeScript/wasm path. `--verbose` shows the build log.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const pkgDir = path.join(__dirname, '..');
const verbose = process.argv.includes('--verbose');
const HINT = 'install a compiler and OpenBLAS (Debian/Ubuntu: apt-get install -y build-essential libopenblas-dev), then run: npm rebuild @altclip/native';

function skip(why) {
  console.log(`@altclip/native: not built (${why}); using the pure TypeScript path. To enable it, ${HINT}`);
  process.exit(0);
}

if (process.env.ALTCLIP_NATIVE === '0') skip('ALTCLIP_NATIVE=0');
if (process.platform === 'win32') skip('Windows builds are not supported yet');

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const cxx = process.env.CXX || 'c++';
if (!has(cxx.split(' ')[0]) || !has('make')) skip(`no C++ compiler or make (${cxx})`);

// OpenBLAS (cblas.h + libopenblas) when the compiler finds it; otherwise binding.gyp builds the built-in SGEMM.
const openblas = require('./detect').hasOpenBlas(cxx);

// node-gyp: npm's own copy (npm sets npm_config_node_gyp) or one in node_modules.
let gyp = process.env.npm_config_node_gyp;
if (!gyp || !fs.existsSync(gyp)) {
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    gyp = undefined;
  }
}
if (!gyp) skip('node-gyp not found');

// Use the running Node's own headers when they are installed (no download, works offline).
const args = [gyp, 'rebuild'];
const prefix = path.join(path.dirname(process.execPath), '..');
if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: verbose ? 'inherit' : 'pipe', encoding: 'utf8', timeout: 10 * 60 * 1000 });
if (r.status !== 0) {
  const tail = `${r.stderr || ''}${r.stdout || ''}`.trim().split('\n').filter((l) => /error/i.test(l)).slice(-1)[0];
  skip(`build failed${tail ? `: ${tail.trim().slice(0, 200)}` : r.error ? `: ${r.error.message}` : ''}`);
}
console.log(`@altclip/native: built (fast path available; matmul: ${openblas ? 'OpenBLAS, with the built-in SGEMM on the shapes where its AVX-512 tile is faster' : 'built-in SGEMM, OpenBLAS not found'})`);
