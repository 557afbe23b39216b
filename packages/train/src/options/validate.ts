/**
 * Checks option values against the schema: one set of rules for flags, config files and library calls. Each value
 * is checked once on its way in (flags by the CLI before any work, config files when they are read, library options
 * when a stage starts), and the options object is then marked as checked, so nothing downstream checks again.
 */
import { Command, flagName, NumberRule, OptionSpec } from './define';
import { optionsOf } from './schema';

function describeRule(r: NumberRule): string {
  const parts: string[] = [];
  if (r.gt !== undefined) parts.push(`> ${r.gt}`);
  if (r.min !== undefined) parts.push(`>= ${r.min}`);
  if (r.max !== undefined) parts.push(`<= ${r.max}`);
  return `${r.int ? 'an integer' : 'a finite number'}${parts.length ? ' ' + parts.join(' and ') : ''}`;
}

/** What is wrong with `v` under rule `r` ("must be ..."), or undefined when it is fine. */
export function checkNumber(v: unknown, r: NumberRule = {}): string | undefined {
  const bad = `must be ${describeRule(r)}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) return bad;
  if (r.int && !Number.isInteger(v)) return bad;
  if (r.gt !== undefined && !(v > r.gt)) return bad;
  if (r.min !== undefined && v < r.min) return bad;
  if (r.max !== undefined && v > r.max) return bad;
  const e = r.extra?.(v);
  return e ? `must be ${e}` : undefined;
}

/** What is wrong with a value of the option described by `spec` ("must be ..."), or undefined. */
export function valueProblem(spec: OptionSpec, v: unknown): string | undefined {
  if (spec.check) return spec.check(v);
  switch (spec.type) {
    case 'number':
      return checkNumber(v, spec.rule);
    case 'numbers':
      return Array.isArray(v) ? v.map((x) => checkNumber(x, spec.rule)).find(Boolean) : 'must be a list of numbers';
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'must be true or false';
    case 'strings':
      return Array.isArray(v) && v.every((x) => typeof x === 'string') ? undefined : 'must be a list of strings';
    case 'string':
      if (typeof v !== 'string') return 'must be a string';
      if (spec.choices && !spec.choices.includes(v)) return `must be one of ${spec.choices.join(', ')}`;
      return undefined;
  }
}

/** A value as the user wrote it, for messages. */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number') return String(v); // JSON.stringify(NaN) would say null
  if (Array.isArray(v)) return v.map(showValue).join(' ');
  if (v instanceof RegExp) return String(v);
  return JSON.stringify(v) ?? String(v);
}

/**
 * Problems of the values in `o` that `command` takes, one line each, named by `name(key)` (e.g. "--batch-size" or
 * "cfg.json: 'batchSize'"). Keys the command does not take are left to the caller.
 */
export function optionProblems(command: Command, o: object, name: (key: string) => string, library = false): string[] {
  const out: string[] = [];
  for (const spec of optionsOf(command)) {
    const v: unknown = Reflect.get(o, spec.key);
    if (v === undefined) continue;
    // Library callers may give an object where a flag takes a path or name (an opened dataset, a tokenizer, a list
    // of templates): that is the stage's to use, not the schema's to judge.
    if (library && spec.type === 'string' && typeof v === 'object' && v !== null) continue;
    const why = valueProblem(spec, v);
    if (why) out.push(`${name(spec.key)} ${why}, got ${showValue(v)}`);
  }
  return out;
}

const checked = new WeakSet<object>();

/** Marks options whose every value has been checked (by the CLI or a config file reader). */
export function markChecked<T extends object>(o: T): T {
  checked.add(o);
  return o;
}

/**
 * Checks library options of a stage, unless they come checked already, and throws one error listing every bad
 * value (one line each), each named by `name` (default "<command>: key (--flag)").
 */
export function checkOnce<T extends object>(command: Command, o: T, name: (key: string) => string = (k) => `${command}: ${k} (${flagName(k)})`): T {
  if (checked.has(o)) return o;
  const p = optionProblems(command, o, name, true);
  if (p.length) throw new Error(p.join('\n'));
  return markChecked(o);
}
