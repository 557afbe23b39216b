/** Config files, and the layers a stage's options are made of: stage defaults, then the config file, then flags. */
import * as fs from 'fs';
import { Command } from './define';
import { OptionsOf, optionsOf, TRAIN_COMMANDS } from './schema';
import { closest } from './suggest';
import { markChecked, optionProblems } from './validate';

export type TrainCommand = (typeof TRAIN_COMMANDS)[number];

/** Reads a JSON config file with errors that name the file. */
export function readJsonConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read config ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const v = JSON.parse(text);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    delete v.$comment;
    delete v.description;
    return v;
  } catch (e) {
    throw new Error(`${file}: invalid config (${(e as Error).message})`, { cause: e });
  }
}

/** Keys of a config file that `command` does not take (typos, another stage's keys, command-line-only flags). */
function unknownKeys(command: TrainCommand, file: Record<string, unknown>, name: string): string[] {
  const known = optionsOf(command).filter((o) => !o.flagOnly).map((o) => o.key);
  return Object.keys(file)
    .filter((k) => !known.includes(k))
    .map((k) => {
      const near = closest(k, known);
      return `${name}: unknown key '${k}' for 'altclip ${command}'${near ? ` (did you mean '${near}'?)` : ''}`;
    });
}

/** Later layers override earlier ones; undefined values do not override. */
export function mergeLayers<T extends object>(...layers: Array<Partial<T> | undefined>): T {
  const out: Partial<T> = {};
  for (const l of layers) if (l) for (const [k, v] of Object.entries(l)) if (v !== undefined) Reflect.set(out, k, v);
  return out as T; // every layer is a part of T, and the caller's layers together make the whole
}

/**
 * The options of a training command's --config file, checked: keys it does not take (with the nearest known one),
 * values against the schema; each problem names the file and the key.
 */
export function configFileOptions<C extends TrainCommand>(command: C, config: string): OptionsOf<C> {
  const file = readJsonConfig(config);
  const bad = [...unknownKeys(command, file, config), ...optionProblems(command as Command, file, (k) => `${config}: '${k}'`)];
  if (bad.length) throw new Error(bad.join('\n'));
  return markChecked(file as OptionsOf<C>); // checked against the schema above
}
