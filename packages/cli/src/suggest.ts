/** "Did you mean --model?" for mistyped flags: edit distance against the flags the current command knows. */
import { closest } from '@altclip/train';

/** What the parser knows about the current command's options (yargs getOptions()). */
export interface KnownOptions {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
  boolean: string[];
}

/** The spelled flags of argv ('--modle', '-x') that are not options of the command, in order. */
export function unknownFlags(argv: string[], known: KnownOptions): string[] {
  const names = new Set<string>(Object.keys(known.key));
  for (const [k, as] of Object.entries(known.alias)) [k, ...as].forEach((a) => names.add(a));
  const isBool = (n: string) => known.boolean.includes(n) || (known.alias[n] ?? []).some((a) => known.boolean.includes(a));
  const out: string[] = [];
  for (const tok of argv) {
    if (tok === '--') break;
    if (tok.startsWith('--')) {
      const name = tok.slice(2).split('=')[0];
      const negated = name.startsWith('no-') && isBool(name.slice(3));
      if (!names.has(name) && !negated) out.push(`--${name}`);
    } else if (/^-[A-Za-z]/.test(tok)) {
      for (const ch of tok.slice(1).split('=')[0]) if (!names.has(ch)) out.push(`-${ch}`);
    }
  }
  return out;
}

/** Spellings to suggest: each long option in kebab case (as the help shows it), plus --no-X for booleans. */
export function flagSpellings(known: KnownOptions): string[] {
  const longs = Object.keys(known.key).filter((k) => k.length > 1 && !/[A-Z]/.test(k));
  return [...longs.map((k) => `--${k}`), ...longs.filter((k) => known.boolean.includes(k)).map((k) => `--no-${k}`)];
}

/** One line naming the unknown flags, each with its nearest known spelling when there is one. */
export function unknownFlagMessage(flags: string[], known: KnownOptions, command: string): string {
  const spellings = flagSpellings(known);
  const parts = flags.map((f) => {
    const s = f.startsWith('--') ? closest(f, spellings) : undefined;
    return s ? `${f} (did you mean ${s}?)` : f;
  });
  return `unknown option${flags.length > 1 ? 's' : ''} ${parts.join(', ')} for '${command}'; see '${command} --help'`;
}
