import type { Argv } from 'yargs';
import { valueProblem } from '@altclip/train';
import { commandOf, specOf } from './options';

/** The part of yargs' getOptions() the checks read: the current command's declared options by kind. */
export interface DeclaredOptions {
  key: Record<string, unknown>;
  array: string[];
  number: string[];
  string: string[];
}

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** What the user typed after --flag (yargs turns 'abc' into NaN for a number option), for the error message. */
function typed(raw: string[], flag: string, parsed: unknown): string {
  const names = new Set([`--${flag}`, `--${camel(flag)}`]);
  for (let i = 0; i < raw.length; i++) {
    const eq = raw[i].indexOf('=');
    if (eq > 0 && names.has(raw[i].slice(0, eq))) return `'${raw[i].slice(eq + 1)}'`;
    if (names.has(raw[i])) return i + 1 < raw.length && !raw[i + 1].startsWith('--') ? `'${raw[i + 1]}'` : '(nothing)';
  }
  return Array.isArray(parsed) ? parsed.join(' ') : String(parsed);
}

/**
 * Problems with the parsed flags of one command, one line each: a scalar flag given twice (yargs would make it an
 * array), a number that is not one or is out of range / not whole (the schema's rule, shared with config files), an
 * empty string (yargs reads `--lr ""` as 0), a value the schema's own check refuses (a regex that does not compile).
 * Choices are yargs' to check.
 */
export function flagProblems(argv: Record<string, unknown>, opts: DeclaredOptions, raw: string[]): string[] {
  const out: string[] = [];
  const command = commandOf(argv);
  for (const k of Object.keys(opts.key)) {
    if (k === 'help' || k === 'version') continue;
    const v = argv[k];
    const flag = `--${k}`;
    if (v === undefined) {
      // A bare `--steps` (number) parses as undefined, as if it had not been given.
      if ((opts.number.includes(k) || opts.string.includes(k)) && typed(raw, k, v) === '(nothing)') out.push(`${flag} needs a value`);
      continue;
    }
    if (Array.isArray(v) && !opts.array.includes(k)) {
      out.push(`${flag} given ${v.length} times (${v.map(String).join(', ')}); give it once`);
      continue;
    }
    const spec = specOf(camel(k), command);
    if ((opts.number.includes(k) || spec?.type === 'numbers') && typed(raw, k, v) === "''") {
      out.push(`${flag} ${spec ? valueProblem(spec, NaN) ?? 'must be a number' : 'must be a number'}, got ''`);
      continue;
    }
    if (spec?.type === 'numbers') {
      const why = valueProblem(spec, v);
      if (why) out.push(`${flag} ${why}, got ${Array.isArray(v) ? v.map((x) => (Number.isNaN(x) ? 'NaN' : String(x))).join(' ') : typed(raw, k, v)}`);
      continue;
    }
    if (opts.number.includes(k)) {
      const bad = (Array.isArray(v) ? v : [v]).map((x) => (spec ? valueProblem(spec, x) : undefined)).find(Boolean);
      if (bad) out.push(`${flag} ${bad}, got ${typeof v === 'number' && !Number.isNaN(v) ? v : typed(raw, k, v)}`);
      continue;
    }
    if (opts.string.includes(k) && (Array.isArray(v) ? v : [v]).some((x) => x === '')) {
      out.push(`${flag} must not be empty`);
      continue;
    }
    const why = spec?.check && valueProblem(spec, v);
    if (why) out.push(`${flag} ${why}`);
  }
  return out;
}

/**
 * Runs flagProblems for whichever command is parsed, before its handler (so before any work); the error lists
 * every bad flag, one per line, and the CLI exits non-zero.
 */
export function withFlagChecks<T>(y: Argv<T>, raw: string[]): Argv<T> {
  // Async: a middleware that throws synchronously escapes parseAsync's promise in yargs 17. yargs passes the
  // command's own instance as the second argument (not in @types/yargs).
  const check = async (argv: Record<string, unknown>, yy: { getOptions(): DeclaredOptions }) => {
    const problems = flagProblems(argv, yy.getOptions(), raw);
    if (problems.length) throw new Error(problems.join('\n'));
  };
  // yargs calls a middleware with (argv, yargs), but its types declare argv only; the second argument is what
  // names the command being parsed, so the function is typed by hand and cast once here.
  return y.middleware(check as unknown as Parameters<Argv<T>['middleware']>[0], true);
}
