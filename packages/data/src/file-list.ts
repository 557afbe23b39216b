import * as fs from 'fs';
import * as path from 'path';

/**
 * Bash-style brace expansion, as WebDataset and open_clip read shard lists: `{00000..01023}` (numeric range, zero
 * padding kept from the wider end), `{a..e}` (letters), `{a,b,c}` (alternatives), several and nested braces. A brace
 * without `..` or `,` is kept literally.
 */
export function expandBraces(pattern: string): string[] {
  const open = findOpen(pattern);
  if (open < 0) return [pattern];
  const close = matchingClose(pattern, open);
  if (close < 0) return [pattern];
  const head = pattern.slice(0, open);
  const body = pattern.slice(open + 1, close);
  const tails = expandBraces(pattern.slice(close + 1));
  const alts = braceAlternatives(body);
  if (!alts) return tails.map((t) => `${head}{${body}}${t}`);
  const out: string[] = [];
  for (const a of alts) for (const x of expandBraces(a)) for (const t of tails) out.push(head + x + t);
  return out;
}

function findOpen(s: string): number {
  for (let i = 0; i < s.length; i++) if (s[i] === '{' && matchingClose(s, i) > 0 && braceAlternatives(s.slice(i + 1, matchingClose(s, i)))) return i;
  return -1;
}

function matchingClose(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/** The items of a brace body, or null when it is not an expansion (no top-level comma, not a range). */
function braceAlternatives(body: string): string[] | null {
  const range = /^(-?\d+)\.\.(-?\d+)(?:\.\.(\d+))?$/.exec(body);
  if (range) {
    const [a, b] = [Number(range[1]), Number(range[2])];
    const step = Math.max(1, Number(range[3] ?? 1));
    const width = /^-?0\d/.test(range[1]) || /^-?0\d/.test(range[2]) ? Math.max(range[1].length, range[2].length) : 0;
    const out: string[] = [];
    for (let v = a; a <= b ? v <= b : v >= b; v += a <= b ? step : -step) out.push(width ? String(v).padStart(width, '0') : String(v));
    return out;
  }
  const letters = /^([a-zA-Z])\.\.([a-zA-Z])$/.exec(body);
  if (letters) {
    const [a, b] = [letters[1].charCodeAt(0), letters[2].charCodeAt(0)];
    const out: string[] = [];
    for (let c = a; a <= b ? c <= b : c >= b; c += a <= b ? 1 : -1) out.push(String.fromCharCode(c));
    return out;
  }
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of body) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.length > 1 ? parts : null;
}

const GLOB = /[*?[]/;

function globToRegExp(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${seg.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Files matching a glob (`*`, `?`, `[...]` within path segments; `**` for any depth), sorted. */
export function globFiles(pattern: string): string[] {
  const abs = path.resolve(pattern);
  const segs = abs.split(path.sep);
  let bases = [segs[0] === '' ? path.sep : segs[0]];
  for (let k = 1; k < segs.length; k++) {
    const seg = segs[k];
    const last = k === segs.length - 1;
    const next: string[] = [];
    for (const b of bases) {
      if (seg === '**') {
        next.push(...walkDirs(b));
        continue;
      }
      if (!GLOB.test(seg)) {
        next.push(path.join(b, seg));
        continue;
      }
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(b, { withFileTypes: true });
      } catch {
        continue;
      }
      const re = globToRegExp(seg);
      for (const e of entries) if (re.test(e.name) && (last ? !e.isDirectory() : e.isDirectory())) next.push(path.join(b, e.name));
    }
    bases = next;
  }
  return [...new Set(bases.filter((f) => fs.existsSync(f) && fs.statSync(f).isFile()))].sort();
}

function walkDirs(dir: string): string[] {
  const out = [dir];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) if (e.isDirectory()) out.push(...walkDirs(path.join(dir, e.name)));
  return out;
}

export interface FileListOptions {
  /** What the list is, for messages ("shard list", "corpus"). */
  what?: string;
  /** A folder in the list stands for its files whose names pass this test (sorted); without it a folder is an error. */
  folderFilter?: (name: string) => boolean;
  /** Files of the list that do not exist: an error (default) or left out with a warning through `log`. */
  missing?: 'error' | 'warn';
  log?: (line: string) => void;
}

/**
 * Resolves a file list as users write it: several lists joined with `::` (open_clip's syntax for mixing sources), each
 * brace-expanded, each result a file, a glob or (with folderFilter) a folder. A list that matches nothing is an error
 * naming it; files named explicitly (not by a glob) must exist, unless `missing` is 'warn'. Order: as written.
 */
export function resolveFileList(spec: string | string[], o: FileListOptions = {}): string[] {
  const what = o.what ?? 'file list';
  const lists = (Array.isArray(spec) ? spec : [spec]).flatMap((s) => s.split('::')).map((s) => s.trim()).filter(Boolean);
  if (lists.length === 0) throw new Error(`${what}: empty`);
  const out: string[] = [];
  for (const list of lists) {
    const found: string[] = [];
    const missing: string[] = [];
    for (const name of expandBraces(list)) {
      if (GLOB.test(name)) found.push(...globFiles(name));
      else if (fs.existsSync(name) && fs.statSync(name).isDirectory()) {
        if (!o.folderFilter) throw new Error(`${what}: '${name}' is a folder; name the files in it (e.g. '${path.join(name, '*')}')`);
        found.push(...fs.readdirSync(name).filter(o.folderFilter).sort().map((f) => path.join(name, f)));
      } else if (fs.existsSync(name)) found.push(path.resolve(name));
      else missing.push(name);
    }
    if (found.length === 0) throw new Error(`${what} '${list}' matches no file${missing.length ? ` (e.g. ${missing[0]} does not exist)` : ''}`);
    if (missing.length) {
      const msg = `${what} '${list}': ${missing.length} of ${missing.length + found.length} files do not exist (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''})`;
      if ((o.missing ?? 'error') === 'error') throw new Error(msg);
      (o.log ?? ((l: string) => process.stderr.write(l + '\n')))(`warning: ${msg}; they are left out`);
    }
    out.push(...found.map((f) => path.resolve(f)));
  }
  return out;
}
