/** yargs flags derived from @altclip/train's option schema, and the typed options of a parsed command line. */
import type { Argv, Options, PositionalOptions } from 'yargs';
import { Command, COMMANDS, forCommand, kebab, OPTIONS, OptionsOf, optionsOf, OptionSpec, TRAIN_COMMANDS } from '@altclip/train';

/** The yargs description of one option for one command. */
function yargsOption(spec: OptionSpec, command: Command): Options {
  const o: Options = { describe: forCommand(spec.help, command) };
  if (spec.type === 'strings') Object.assign(o, { type: 'array', string: true });
  else if (spec.type === 'numbers') Object.assign(o, { type: 'array', number: true });
  else o.type = spec.type;
  if (spec.choices) o.choices = [...spec.choices];
  const dflt = forCommand(spec.default, command);
  // A training command's --config file must be able to set what the flag's default would: the stage applies the
  // default after merging, and the help only shows it.
  if (dflt !== undefined && (TRAIN_COMMANDS as readonly string[]).includes(command)) o.defaultDescription = JSON.stringify(dflt);
  else if (dflt !== undefined) o.default = dflt;
  if (spec.required?.includes(command)) o.demandOption = true;
  return o;
}

/** Declares `command`'s flags (the schema's order) on a yargs instance. */
export function withOptions<T>(y: Argv<T>, command: Command): Argv<T> {
  for (const spec of optionsOf(command)) {
    if (spec.noFlag) continue;
    if (spec.positional) y = y.positional(spec.key, yargsOption(spec, command) as PositionalOptions);
    else y = y.option(kebab(spec.key), yargsOption(spec, command));
  }
  return y;
}

/** The description of a flag of `command` (or of every command) by its key or flag name. */
export function specOf(key: string, command: Command): OptionSpec | undefined {
  return [...optionsOf(command), ...optionsOf('*')].find((o) => o.key === key || kebab(o.key) === key);
}

/** The command a parsed command line runs ('eval zeroshot', 'finetune', ...; '*' for none), from yargs' argv._. */
export function commandOf(argv: Record<string, unknown>): Command {
  const words = (Array.isArray(argv._) ? argv._ : []).map(String);
  const known = COMMANDS as readonly string[];
  const two = words.slice(0, 2).join(' ');
  return (known.includes(two) ? two : known.includes(words[0]) ? words[0] : '*') as Command;
}

/**
 * The options of `command` among parsed flags (yargs' argv), typed by the schema; flags not given are absent, so a
 * stage's defaults and a config file can fill them.
 */
export function optionsFromArgv<C extends Command>(command: C, argv: Record<string, unknown>): OptionsOf<C> {
  const out: Partial<Record<string, unknown>> = {};
  for (const spec of optionsOf(command)) if (argv[spec.key] !== undefined && !spec.noFlag) out[spec.key] = argv[spec.key];
  return out as OptionsOf<C>; // each value was parsed by yargs as the schema declares it and checked by validate.ts
}

/** The global --backend of a parsed command line. */
export function backendOf(argv: Record<string, unknown>): string | undefined {
  return typeof argv.backend === 'string' ? argv.backend : undefined;
}

/** Keys whose values may be hub ids (--revision applies to them), in the schema's order. */
export const HUB_ID_KEYS: string[] = [...new Set((OPTIONS as readonly OptionSpec[]).filter((o) => o.hubId).map((o) => o.key))];
