#!/usr/bin/env node
import { main } from './main';

main(process.argv.slice(2)).catch((e) => {
  // One "altclip: " line per problem (option checks report every bad flag at once).
  for (const line of (e instanceof Error ? e.message : String(e)).split('\n')) process.stderr.write(`altclip: ${line}\n`);
  if (process.env.ALTCLIP_DEBUG) console.error(e);
  process.exit(1);
});
