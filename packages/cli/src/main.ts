import yargs from 'yargs';
import { commands } from './commands';
import { applyHubFlags } from './hub-flags';

/** Builds the yargs parser; every command lives in its own module under commands/. */
export function buildCli(argv: string[]) {
  let y = yargs(argv)
    .scriptName('altclip')
    .usage('$0 <command> [options]')
    .option('backend', {
      type: 'string',
      choices: ['auto', 'tensorflow', 'wasm', 'cpu'],
      describe: 'TensorFlow.js backend (default: best available; env ALTCLIP_BACKEND)',
    })
    .option('revision', { type: 'string', describe: 'branch, tag or commit of the Hugging Face hub ids named (default main)' })
    .option('offline', { type: 'boolean', describe: 'use only the Hugging Face cache, no downloads (same as HF_HUB_OFFLINE=1)' })
    .middleware((argv) => applyHubFlags(argv as Record<string, unknown>))
    .strict()
    .demandCommand(1, 'Pick a command (see --help).')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(require('../package.json').version)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err, yy) => {
      if (err) throw err;
      yy.showHelp();
      throw new Error(msg);
    });
  for (const c of commands) y = y.command(c as any);
  return y;
}

export async function main(argv: string[]): Promise<void> {
  await buildCli(argv).parseAsync();
}
