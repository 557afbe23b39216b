#!/usr/bin/env node
// Builds the MPI binding with node-gyp where an MPI installation (mpi.h and libmpi) is found. Never fails the
// install: without MPI, a compiler or node-gyp, or when the build fails, it prints one line and exits 0 (training
// then runs in one process; `mpirun` says how to enable it). `--verbose` shows the build log.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const pkgDir = path.join(__dirname, '..');
const verbose = process.argv.includes('--verbose');
const HINT = 'install Open MPI (Debian/Ubuntu: apt-get install -y openmpi-bin libopenmpi-dev; or set MPI_CFLAGS and MPI_LIBS), then run: npm rebuild @altclip/mpi';

function skip(why) {
  console.log(`@altclip/mpi: not built (${why}); training runs in one process. To enable mpirun data parallelism, ${HINT}`);
  process.exit(0);
}

if (process.env.ALTCLIP_MPI === '0') skip('ALTCLIP_MPI=0');
if (process.platform === 'win32') skip('Windows builds are not supported');
const mpi = require('./detect').detect();
if (!mpi) skip('no mpi.h found');
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const cxx = process.env.CXX || 'c++';
if (!has(cxx.split(' ')[0]) || !has('make')) skip(`no C++ compiler or make (${cxx})`);

let gyp = process.env.npm_config_node_gyp;
if (!gyp || !fs.existsSync(gyp)) {
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    gyp = undefined;
  }
}
if (!gyp) skip('node-gyp not found');
const args = [gyp, 'rebuild'];
const prefix = path.join(path.dirname(process.execPath), '..');
if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: verbose ? 'inherit' : 'pipe', encoding: 'utf8', timeout: 5 * 60 * 1000 });
if (r.status !== 0) {
  const tail = `${r.stderr || ''}${r.stdout || ''}`.trim().split('\n').filter((l) => /error/i.test(l)).slice(-1)[0];
  skip(`build failed${tail ? `: ${tail.trim().slice(0, 200)}` : r.error ? `: ${r.error.message}` : ''}`);
}
console.log(`@altclip/mpi: built against ${mpi.header} (mpirun -np N npx altclip distill|contrastive|finetune ... trains data-parallel)`);
