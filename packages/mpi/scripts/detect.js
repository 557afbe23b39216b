#!/usr/bin/env node
// Finds an MPI installation's compile and link flags for binding.gyp. Order: MPI_CFLAGS/MPI_LIBS from the
// environment; `mpicc --showme:*` (Open MPI); `mpicc -show` (MPICH, Intel MPI); the Debian/Ubuntu default paths.
// `node detect.js cflags|libs` prints the flags; `node detect.js check` exits 0 when an mpi.h was found.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function split(s) {
  return (s || '').split(/\s+/).filter(Boolean);
}

/** { cflags: string[], libs: string[], header: string } or undefined when no mpi.h is found. */
function detect() {
  const mpicc = process.env.MPICC || 'mpicc';
  let cflags = process.env.MPI_CFLAGS !== undefined ? split(process.env.MPI_CFLAGS) : undefined;
  let libs = process.env.MPI_LIBS !== undefined ? split(process.env.MPI_LIBS) : undefined;
  if (!cflags || !libs) {
    const compile = run(mpicc, ['--showme:compile']);
    const link = run(mpicc, ['--showme:link']);
    if (compile !== undefined && link !== undefined) {
      cflags ??= split(compile);
      libs ??= split(link);
    } else {
      const show = run(mpicc, ['-show']);
      if (show) {
        const words = split(show).slice(1);
        cflags ??= words.filter((w) => w.startsWith('-I') || w.startsWith('-D'));
        libs ??= words.filter((w) => w.startsWith('-L') || w.startsWith('-l') || w.startsWith('-Wl'));
      }
    }
  }
  if (!cflags || !libs) {
    for (const dir of ['/usr/lib/x86_64-linux-gnu/openmpi', '/usr/lib/aarch64-linux-gnu/openmpi']) {
      if (fs.existsSync(path.join(dir, 'include', 'mpi.h'))) {
        cflags = [`-I${dir}/include`, `-I${dir}/include/openmpi`];
        libs = [`-L${dir}/lib`, '-lmpi'];
        break;
      }
    }
  }
  if (!cflags || !libs) return undefined;
  const incDirs = cflags.filter((f) => f.startsWith('-I')).map((f) => f.slice(2));
  const header = incDirs.map((d) => path.join(d, 'mpi.h')).find((f) => fs.existsSync(f));
  if (!header) return undefined;
  return { cflags, libs, header };
}

module.exports = { detect };

if (require.main === module) {
  const what = process.argv[2];
  const d = detect();
  if (what === 'check') process.exit(d ? 0 : 1);
  if (what === 'cflags') console.log(d ? d.cflags.join(' ') : '');
  else if (what === 'libs') console.log(d ? d.libs.join(' ') : '');
  else {
    console.error('usage: node detect.js check|cflags|libs');
    process.exit(2);
  }
}
