#!/usr/bin/env node
// `npm run bench -- <name> [args]` runs bench/dist/<name>.js (built from bench/src/<name>.ts by `tsc -b`).
const fs = require('fs');
const path = require('path');
const dir = path.join(__dirname, '..', 'bench', 'dist');
const [name, ...rest] = process.argv.slice(2);
const available = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.js') && !f.startsWith('_')).map((f) => f.slice(0, -3)) : [];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name> [options]\navailable: ${available.join(', ') || '(none built; run npx tsc -b)'}`);
  process.exit(name ? 1 : 0);
}
process.argv = [process.argv[0], path.join(dir, name + '.js'), ...rest];
require(path.join(dir, name + '.js'));
