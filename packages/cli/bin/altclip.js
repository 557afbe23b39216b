#!/usr/bin/env node
// The `altclip` command. A committed file rather than dist/bin.js: npm links bins during `npm ci` before the
// `prepare` script compiles the TypeScript, and a bin whose file is missing at that moment is silently not linked
// (then `npx altclip` asks the public registry for a package named "altclip").
'use strict';
const path = require('path');
const target = path.join(__dirname, '..', 'dist', 'bin.js');
try {
  require.resolve(target);
} catch {
  process.stderr.write(`altclip: ${target} does not exist: the TypeScript is not built yet. Run \`npm run build\` (tsc -b) in the repository root.\n`);
  process.exit(1);
}
require(target);
