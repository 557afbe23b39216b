import * as fs from 'fs';
import * as path from 'path';

/** Characters Python's str.isspace() accepts (what str.strip() and re's \s use on str). */
export const PY_WHITESPACE = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const STRIP_RE = new RegExp(`^[${PY_WHITESPACE}]+|[${PY_WHITESPACE}]+$`, 'g');

/** Python's str.strip() with no arguments. */
export function pyStrip(s: string): string {
  return s.replace(STRIP_RE, '');
}

const RSTRIP_RE = new RegExp(`[${PY_WHITESPACE}]+$`);
const LSTRIP_RE = new RegExp(`^[${PY_WHITESPACE}]+`);
export const pyRstrip = (s: string): string => s.replace(RSTRIP_RE, '');
export const pyLstrip = (s: string): string => s.replace(LSTRIP_RE, '');

/** Writes a file via a temporary sibling and a rename, so a crash never leaves a half-written file. */
export function atomicWrite(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** Parses a JSON file if it exists; a present but invalid file is an error naming it. */
export function readJsonIfExists(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`, { cause: e });
  }
}

export function readFileOrThrow(file: string, what: string): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new Error(`${what} not found: ${file}`);
  }
  if (!st.isFile()) throw new Error(`${what} is not a file: ${file}`);
  return fs.readFileSync(file);
}
