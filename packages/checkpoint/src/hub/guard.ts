import * as fs from 'fs';
import * as path from 'path';
import { HubError } from './errors';

/**
 * Checks on every value the endpoint (or a repository's own files) sends that becomes part of a path in the cache:
 * file names (sibling lists, a weight_map), commit hashes and etags. A hostile or broken endpoint must not make us
 * write, link or read anything outside the repository's cache folder, nor fetch a file of another repository
 * through a URL whose `..` collapses.
 */

/** Why `name` is not a plain relative repository path, or undefined when it is one. */
export function badRepoPath(name: unknown): string | undefined {
  if (typeof name !== 'string') return `not a string (${typeof name})`;
  if (!name) return 'empty';
  // Control characters (NUL above all) cut or confuse paths, URLs and terminals.
  if (/[\x00-\x1f\x7f]/.test(name)) return 'a control character';
  // A separator on Windows, and in URLs %5C still reaches the server as a backslash.
  if (name.includes('\\')) return 'a backslash';
  if (name.startsWith('/')) return 'a leading /';
  for (const seg of name.split('/')) {
    if (seg === '..') return 'a .. segment';
    if (seg === '.' || seg === '') return 'an empty or . segment';
    // "C:x" is drive-relative on Windows, where path.join would leave the cache.
    if (/^[A-Za-z]:/.test(seg)) return 'a drive letter';
  }
  return undefined;
}

/**
 * `name` if it is a plain relative path inside the repository, else a HubError naming it and `source` (where it
 * came from: a URL, an index file). A revision is checked the same way, since it names a file under refs/.
 */
export function checkRepoPath(name: unknown, source: string, noun = 'file name'): string {
  const why = badRepoPath(name);
  if (why) throw new HubError('unsafe', `${source}: refused the ${noun} ${JSON.stringify(name)}: ${why}; it must be a relative path inside the repository`);
  return name as string;
}

/** org/name as the Hub spells them: no separators, and no name that is all dots, so the folder name is no path. */
export const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

export function isCommitHash(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{40}$/.test(value);
}

/** A commit hash from the endpoint (API sha, X-Repo-Commit, refs/ file): 40 lowercase hex characters. */
export function checkCommit(value: unknown, source: string): string {
  if (isCommitHash(value)) return value;
  throw new HubError(
    'unsafe',
    `${source}: the commit ${JSON.stringify(value)} is not 40 hex characters; it would become a folder of the cache, so it is refused (does HF_ENDPOINT point at a Hugging Face Hub?)`,
  );
}

/**
 * An etag from the endpoint names a blob file: an LFS file's (X-Linked-Etag) must be its sha256 (64 hex), which
 * is then checked against the bytes; a plain git file's is its git blob id (40 hex; 64 accepted for sha256 repos).
 */
export function checkEtag(etag: string, lfs: boolean, url: string): string {
  if (lfs ? /^[0-9a-f]{64}$/.test(etag) : /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(etag)) return etag;
  throw new HubError(
    'unsafe',
    `${url}: the ${lfs ? 'X-Linked-Etag' : 'ETag'} ${JSON.stringify(etag)} is not ${lfs ? 'a sha256 (64 hex characters)' : 'a git blob id (40 hex characters)'}; ` +
      `it would name a file of the cache${lfs ? ' and is what the download is checked against' : ''}, so it is refused`,
  );
}

function within(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/** realpath of the deepest existing ancestor of `p`, with the rest appended (so it works before mkdir). */
function realpathDeep(p: string): string {
  const rest: string[] = [];
  let cur = path.resolve(p);
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...rest.reverse());
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return path.resolve(p);
      rest.push(path.basename(cur));
      cur = up;
    }
  }
}

/**
 * `p` if it lies inside `sub` as written (path.resolve: no `..` leads out) and inside `folder` (the repository's
 * cache folder) with the symlinks of the folders leading to it resolved (realpath: no symlinked folder inside the
 * cache leads a write or read elsewhere); else a HubError naming both. `p` itself may be a symlink (a snapshot
 * entry points into blobs/), and `folder` may be one (a cache moved to another disk).
 */
export function insideRoot(folder: string, sub: string, p: string, what: string): string {
  if (within(path.resolve(sub), path.resolve(p)) && within(realpathDeep(folder), realpathDeep(path.dirname(path.resolve(p))))) return p;
  throw new HubError('unsafe', `${what}: ${p} would lie outside ${sub} (symlinks resolved: ${realpathDeep(path.dirname(path.resolve(p)))} in ${realpathDeep(folder)}); refused`);
}
