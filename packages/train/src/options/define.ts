/**
 * How an option is described, and the types derived from the descriptions: the CLI builds its flags from them, the
 * validator checks flags and config files against them, and each command's option type is computed from them, so an
 * option is written down once.
 */

/** Every command, as typed after `altclip`. `*` marks the options every command takes (--backend, ...). */
export const COMMANDS = ['*', 'info', 'convert', 'eval zeroshot', 'eval retrieval', 'predict', 'embed', 'demo', 'distill', 'contrastive', 'finetune', 'report', 'shards'] as const;
export type Command = (typeof COMMANDS)[number];

/** A numeric rule: what a value must be. */
export interface NumberRule {
  /** A whole number. */
  int?: boolean;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive lower bound. */
  gt?: number;
  /** Extra condition: returns what is wrong (the end of "must be ..."), or undefined. */
  extra?: (v: number) => string | undefined;
}

export type OptionType = 'number' | 'string' | 'boolean' | 'strings' | 'numbers';

/** Per command, or one value for all of an option's commands. */
export type PerCommand<T> = T | { readonly [C in Command]?: T };

export interface OptionSpec {
  /** The key in config files and library options (camelCase); the flag is its kebab-case form. */
  readonly key: string;
  readonly type: OptionType;
  readonly commands: readonly Command[];
  readonly help?: PerCommand<string>;
  readonly rule?: NumberRule;
  readonly choices?: readonly string[];
  /** Checks a value beyond its type, rule and choices: what is wrong ("must be ..."), or undefined. */
  readonly check?: (v: unknown) => string | undefined;
  readonly default?: PerCommand<string | number | boolean>;
  /** Commands that refuse to run without it (yargs demandOption). */
  readonly required?: readonly Command[];
  /** The value may be a Hugging Face hub id (org/name): --revision applies to it. */
  readonly hubId?: boolean;
  /** Only on the command line: not a key of --config files (--config itself, --progress). */
  readonly flagOnly?: boolean;
  /** Only in config files and library calls: no flag (settings too rare for the command line). */
  readonly noFlag?: boolean;
  /** A positional argument (`altclip report <run>`) instead of a flag. */
  readonly positional?: boolean;
  /** Part of the trainer's configuration (TrainConfig): hashed into checkpoints, handed to train(). */
  readonly trainer?: boolean;
}

/** Keeps the literal types of a description (its key, type, choices, commands) for the derived option types. */
export function option<const S extends OptionSpec>(s: S): S {
  return s;
}

/** camelCase key -> kebab-case flag name. */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
}

/** camelCase key -> --kebab-case flag. */
export function flagName(key: string): string {
  return '--' + kebab(key);
}

/** The value of a per-command setting for `command`. */
export function forCommand<T>(v: PerCommand<T> | undefined, command: Command): T | undefined {
  if (v === undefined || v === null || typeof v !== 'object' || Array.isArray(v)) return v as T | undefined;
  return (v as { [C in Command]?: T })[command];
}

/** The value type of an option description. */
export type ValueOf<S> = S extends { type: 'number' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { type: 'numbers' }
      ? number[]
      : S extends { type: 'strings' }
        ? string[]
        : S extends { choices: readonly (infer V)[] }
          ? V
          : string;

type Takes<S, C extends Command> = S extends { commands: readonly (infer X)[] } ? (C extends X ? S : never) : never;

/** The options of command C from a table of descriptions, each optional, typed by its description. */
export type OptionsFrom<Table extends readonly OptionSpec[], C extends Command> = {
  [S in Takes<Table[number], C> as S['key']]?: ValueOf<S>;
};
