import * as fs from 'fs';
import * as path from 'path';

/**
 * The Hugging Face cache layout, as huggingface_hub writes it, so that either side reuses the other's downloads:
 *   <cacheDir>/models--<org>--<name>/blobs/<etag>                  file contents, named by their etag
 *   <cacheDir>/models--<org>--<name>/refs/<revision>               the commit a branch or tag pointed to
 *   <cacheDir>/models--<org>--<name>/snapshots/<commit>/<file>     relative symlink to ../../blobs/<etag>
 *   <cacheDir>/models--<org>--<name>/.no_exist/<commit>/<file>     empty: the file is known not to exist
 */
export function repoFolder(cacheDir: string, repoId: string): string {
  return path.join(cacheDir, `models--${repoId.split('/').join('--')}`);
}

export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/** The commit `revision` stands for in the cache (a commit hash stands for itself), if known. */
export function readRef(folder: string, revision: string): string | undefined {
  if (isCommitHash(revision)) return revision;
  try {
    return fs.readFileSync(path.join(folder, 'refs', revision), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Records that `revision` points at `commit` (written atomically: a concurrent reader never sees half a hash). */
export function writeRef(folder: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const file = path.join(folder, 'refs', revision);
  if (readRef(folder, revision) === commit) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  fs.writeFileSync(tmp, commit);
  fs.renameSync(tmp, file);
}

export function snapshotDir(folder: string, commit: string): string {
  return path.join(folder, 'snapshots', commit);
}

export function blobPath(folder: string, etag: string): string {
  return path.join(folder, 'blobs', etag);
}

/** Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink (a copy where symlinks are refused). */
export function linkBlob(folder: string, commit: string, file: string, etag: string): string {
  const pointer = path.join(snapshotDir(folder, commit), file);
  const blob = blobPath(folder, etag);
  fs.mkdirSync(path.dirname(pointer), { recursive: true });
  fs.rmSync(pointer, { force: true });
  try {
    fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    fs.copyFileSync(blob, pointer);
  }
  return pointer;
}

/** The cached file for (commit, file): its path, 'missing' when known not to exist, undefined when unknown. */
export function cachedFile(folder: string, commit: string, file: string): string | 'missing' | undefined {
  const p = path.join(snapshotDir(folder, commit), file);
  if (fs.existsSync(p)) return p;
  if (fs.existsSync(path.join(folder, '.no_exist', commit, file))) return 'missing';
  return undefined;
}

/** Remembers that `file` does not exist at `commit`, so offline runs need not ask again. */
export function markMissing(folder: string, commit: string, file: string): void {
  const p = path.join(folder, '.no_exist', commit, file);
  try {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.closeSync(fs.openSync(p, 'a'));
  } catch {
    // Only an optimisation: a read-only cache still works.
  }
}
