#!/usr/bin/env node
// Build-time probe shared by install.js and binding.gyp (`node scripts/detect.js openblas` prints 1 or 0): can the
// compiler find OpenBLAS (cblas.h + libopenblas)? Without it the addon is built with its own SGEMM (csrc/sgemm.cc).
'use strict';
const { spawnSync } = require('child_process');

function hasOpenBlas(cxx = process.env.CXX || 'c++') {
  if (process.env.ALTCLIP_NATIVE_OPENBLAS === '0') return false;
  const probe = spawnSync(cxx.split(' ')[0], ['-x', 'c++', '-', '-o', '/dev/null', '-lopenblas'], {
    input: '#include <cblas.h>\nextern "C" int openblas_get_num_threads(void);\nint main(){return openblas_get_num_threads() < 0;}\n',
    encoding: 'utf8',
  });
  return probe.status === 0;
}

module.exports = { hasOpenBlas };

if (require.main === module && process.argv[2] === 'openblas') process.stdout.write(hasOpenBlas() ? '1' : '0');
