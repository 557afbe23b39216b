import yargs from 'yargs';
import { setMaxImagePixels, DEFAULT_MAX_IMAGE_PIXELS } from '@altclip/image';
import { setAllowNonFiniteWeights } from '@altclip/models';
import { commands } from './commands';
import { applyHubFlags } from './hub-flags';
import { withFlagChecks } from './validate';
import { withOptions } from './options';
import { KnownOptions, unknownFlagMessage, unknownFlags } from './suggest';

/** Builds the yargs parser; every command lives in its own module under commands/. */
export function buildCli(argv: string[]) {
  const base = yargs(argv);
  // yargs' types omit getOptions/getInternalMethods, which it has. At failure time these describe the command being parsed (yargs reuses one instance for every command level).
  const inner = base as unknown as { getOptions(): KnownOptions; getInternalMethods?(): { getContext(): { commands: string[] } } };
  // The flag checks come first among the middlewares: before any of them, and so before any command, acts on a value.
  let y = withOptions(withFlagChecks(base, argv).scriptName('altclip').usage('$0 <command> [options]'), '*')
    .middleware((argv) => applyHubFlags(argv))
    .strict()
    .demandCommand(1, 'Pick a command (see --help).')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(require('../package.json').version)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err, usage) => {
      if (err) throw err;
      // A typo gets one line with a suggestion, not the whole help (yargs checks required options first, so a
      // mistyped required flag would otherwise read "Missing required argument").
      const known = inner.getOptions();
      const command = ['altclip', ...(inner.getInternalMethods?.().getContext().commands ?? [])].join(' ');
      const unknown = unknownFlags(argv, known);
      if (unknown.length) throw new Error(unknownFlagMessage(unknown, known, command));
      const didYouMean = /^Did you mean (.+)\?$/.exec(msg);
      if (didYouMean) {
        const typed = argv.filter((a) => !a.startsWith('-'))[command.split(' ').length - 1];
        throw new Error(`unknown command '${typed}' (did you mean ${didYouMean[1]}?); see '${command} --help'`);
      }
      if (/^Unknown arguments?:/.test(msg)) throw new Error(`${msg}; see '${command} --help'`);
      usage.showHelp();
      throw new Error(msg);
    });
  for (const c of commands) y = y.command(c);
  // After the checks: process-wide settings the commands' loaders read.
  return y.middleware(async (a) => {
    setMaxImagePixels(typeof a.maxPixels === 'number' ? a.maxPixels : DEFAULT_MAX_IMAGE_PIXELS);
    setAllowNonFiniteWeights(a.allowNonfinite === true);
  }, true);
}

export async function main(argv: string[]): Promise<void> {
  await buildCli(argv).parseAsync();
}
