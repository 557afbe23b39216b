#!/usr/bin/env node
import { main } from './main';

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`altclip: ${e instanceof Error ? e.message : String(e)}\n`);
  if (process.env.ALTCLIP_DEBUG) console.error(e);
  process.exit(1);
});
