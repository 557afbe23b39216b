import * as fs from 'fs';
import { TEMPLATE_SETS } from './templates';

function readJson(file: string, what: string): unknown {
  if (!fs.existsSync(file)) throw new Error(`${what} file not found: ${file}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * A string list from JSON: a plain array, or an object holding one under `key` (e.g. {"templates": [...]}),
 * or CLIP_benchmark's {"<dataset>": [...]} keyed files (pick with `dataset`, else the only key).
 */
function stringList(v: unknown, file: string, key: string, dataset?: string): string[] {
  let arr: unknown = v;
  if (!Array.isArray(v) && v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o[key])) arr = o[key];
    else if (dataset && Array.isArray(o[dataset])) arr = o[dataset];
    else {
      const lists = Object.keys(o).filter((k) => Array.isArray(o[k]));
      if (lists.length !== 1) throw new Error(`${file}: expected a JSON array of strings, or an object with "${key}"${dataset ? ` or "${dataset}"` : ''} (keys: ${Object.keys(o).slice(0, 10).join(', ')})`);
      arr = o[lists[0]];
    }
  }
  if (!Array.isArray(arr) || arr.length === 0) throw new Error(`${file}: expected a non-empty JSON array of strings`);
  arr.forEach((s, i) => {
    if (typeof s !== 'string' || s === '') throw new Error(`${file}: ${key}[${i}] is not a non-empty string`);
  });
  return arr as string[];
}

/**
 * Templates from a built-in set name (cifar10-en, demo-heldout-zh, ...; see TEMPLATE_SETS) or a JSON file. Each
 * needs {c}. A value that is neither names the built-in sets.
 */
export function loadTemplates(fileOrName: string, dataset?: string): string[] {
  const builtin = Object.prototype.hasOwnProperty.call(TEMPLATE_SETS, fileOrName) ? TEMPLATE_SETS[fileOrName] : undefined;
  if (!builtin && !fs.existsSync(fileOrName)) {
    throw new Error(`templates '${fileOrName}': not a built-in template set (${Object.keys(TEMPLATE_SETS).join(', ')}) nor a JSON file`);
  }
  const list = builtin ?? stringList(readJson(fileOrName, 'templates'), fileOrName, 'templates', dataset);
  list.forEach((t, i) => {
    if (!t.includes('{c}') && !t.includes('{}')) throw new Error(`${fileOrName}: template ${i} '${t}' has no {c} placeholder`);
  });
  return list;
}

/** Class names from a JSON file (array, {"classnames": [...]}, or {"<dataset>": [...]}). */
export function loadClassnames(file: string, dataset?: string): string[] {
  return stringList(readJson(file, 'class names'), file, 'classnames', dataset);
}
