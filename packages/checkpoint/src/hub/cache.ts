import * as fs from 'fs';
import * as path from 'path';
import { pidAlive } from '../atomic';
import { checkCommit, checkRepoPath, insideRoot, isCommitHash, REPO_ID } from './guard';
import { HubError } from './errors';

/**
 * The Hugging Face cache layout, as huggingface_hub writes it, so that either side reuses the other's downloads:
 *   <cacheDir>/models--<org>--<name>/blobs/<etag>                  file contents, named by their etag
 *   <cacheDir>/models--<org>--<name>/refs/<revision>               the commit a branch or tag pointed to
 *   <cacheDir>/models--<org>--<name>/snapshots/<commit>/<file>     relative symlink to ../../blobs/<etag>
 *   <cacheDir>/models--<org>--<name>/.no_exist/<commit>/<file>     empty: the file is known not to exist
 * Every path below is checked to stay inside its folder (see guard.ts): commits, etags and file names come from
 * the endpoint.
 */
export function repoFolder(cacheDir: string, repoId: string): string {
  if (!REPO_ID.test(repoId)) throw new HubError('unsafe', `'${repoId}' is not a repository id of the form org/name`);
  return path.join(cacheDir, `models--${repoId.split('/').join('--')}`);
}

/** The commit `revision` stands for in the cache (a commit hash stands for itself), if known. */
export function readRef(folder: string, revision: string): string | undefined {
  if (isCommitHash(revision)) return revision;
  const file = refPath(folder, revision);
  let commit: string;
  try {
    commit = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  return commit ? checkCommit(commit, file) : undefined;
}

function refPath(folder: string, revision: string): string {
  checkRepoPath(revision, path.join(folder, 'refs'), 'revision');
  return insideRoot(folder, path.join(folder, 'refs'), path.join(folder, 'refs', revision), `revision '${revision}'`);
}

/** Records that `revision` points at `commit` (written atomically: a concurrent reader never sees half a hash). */
export function writeRef(folder: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const file = refPath(folder, revision);
  if (readRef(folder, revision) === commit) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  fs.writeFileSync(tmp, commit);
  fs.renameSync(tmp, file);
}

export function snapshotDir(folder: string, commit: string): string {
  checkCommit(commit, folder);
  return path.join(folder, 'snapshots', commit);
}

export function blobPath(folder: string, etag: string): string {
  return insideRoot(folder, path.join(folder, 'blobs'), path.join(folder, 'blobs', etag), `blob '${etag}'`);
}

/** snapshots/<commit>/<file>, refused unless inside snapshots/<commit>. */
function pointerPath(folder: string, commit: string, file: string): string {
  const dir = snapshotDir(folder, commit);
  return insideRoot(folder, dir, path.join(dir, checkRepoPath(file, dir)), `'${file}'`);
}

/** Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink (a copy where symlinks are refused). */
export function linkBlob(folder: string, commit: string, file: string, etag: string): string {
  const pointer = pointerPath(folder, commit, file);
  const blob = blobPath(folder, etag);
  fs.mkdirSync(path.dirname(pointer), { recursive: true });
  // Again now that the folders exist: none of them may be a symlink leading out of the snapshot.
  insideRoot(folder, snapshotDir(folder, commit), pointer, `'${file}'`);
  const target = path.relative(path.dirname(pointer), blob);
  insideRoot(folder, path.join(folder, 'blobs'), path.resolve(path.dirname(pointer), target), `the link of '${file}'`);
  fs.rmSync(pointer, { force: true });
  try {
    fs.symlinkSync(target, pointer);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    fs.copyFileSync(blob, pointer);
  }
  return pointer;
}

/** The cached file for (commit, file): its path, 'missing' when known not to exist, undefined when unknown. */
export function cachedFile(folder: string, commit: string, file: string): string | 'missing' | undefined {
  const p = pointerPath(folder, commit, file);
  if (fs.existsSync(p)) return p;
  if (fs.existsSync(noExistPath(folder, commit, file))) return 'missing';
  return undefined;
}

function noExistPath(folder: string, commit: string, file: string): string {
  const dir = path.join(folder, '.no_exist', checkCommit(commit, folder));
  return insideRoot(folder, dir, path.join(dir, checkRepoPath(file, dir)), `'${file}'`);
}

/** Remembers that `file` does not exist at `commit`, so offline runs need not ask again. */
export function markMissing(folder: string, commit: string, file: string): void {
  const p = noExistPath(folder, commit, file);
  try {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.closeSync(fs.openSync(p, 'a'));
  } catch {
    // Only an optimisation: a read-only cache still works.
  }
}

/**
 * Runs `fn` holding <cacheDir>/.locks/<repo folder>/<etag>.lock (where huggingface_hub keeps its locks), so two
 * downloads of one blob, in this process or another on this machine, do not write the same .incomplete file.
 * The lock file holds the owner's pid; one left by a dead process is taken over.
 */
export async function withBlobLock<T>(cacheDir: string, folder: string, etag: string, fn: () => Promise<T>): Promise<T> {
  const locks = path.join(cacheDir, '.locks', path.basename(folder));
  const lock = insideRoot(locks, locks, path.join(locks, `${etag}.lock`), `the lock of blob '${etag}'`);
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner: number;
      let age: number;
      try {
        owner = Number(fs.readFileSync(lock, 'utf8'));
        age = Date.now() - fs.statSync(lock).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      // An empty lock is being written right now, unless its writer died in between (then it stays empty).
      if (owner > 0 ? !pidAlive(owner) : age > 10_000) fs.rmSync(lock, { force: true });
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}
