import * as fs from 'fs';
import * as path from 'path';
import { blobPath, cachedFile, linkBlob, markMissing, readRef, repoFolder, snapshotDir, withBlobLock, writeRef } from './cache';
import { downloadBlob, stderrProgress } from './download';
import { checkCommit, checkRepoPath, REPO_ID } from './guard';
import { getJson, headFile, HubError } from './http';
import { RequestContext } from './request';
import { DownloadProgress, HubOptions, hubSettings, HubSettings } from './settings';

/** What of a model repository to fetch. */
export type HubPart = 'config' | 'weights' | 'tokenizer' | 'processor';
export const MODEL_PARTS: HubPart[] = ['config', 'weights', 'tokenizer', 'processor'];

/** In order of preference: the first one the repository has is fetched (an index brings its shards). */
export const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'];
export const TOKENIZER_FILES = [
  'sentencepiece.bpe.model', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'bpe_simple_vocab_16e6.txt.gz',
];

export interface SnapshotOptions extends HubOptions {
  parts?: HubPart[];
  /** Notes such as "offline: using the cached snapshot" (default: stderr). */
  log?: (line: string) => void;
}

export interface HubRef {
  repoId: string;
  revision?: string;
}

/** "org/name" or "org/name@revision" (syntax only; a local path of that name wins, see resolvePretrained). */
export function parseHubId(spec: string): HubRef | undefined {
  const m = /^([^@]+)(?:@(\S+))?$/.exec(spec);
  if (!m || !REPO_ID.test(m[1]) || spec.includes('..')) return undefined;
  return { repoId: m[1], revision: m[2] };
}

/** True for a hub id that does not name an existing local path. */
export function isHubId(spec: string): boolean {
  return !fs.existsSync(spec) && !localParent(spec) && parseHubId(spec) !== undefined;
}

/**
 * The first folder of `spec` when it exists here ('runs' of 'runs/stage2'): then `spec` names a local path that is
 * missing, not a hub repository, and reading it as one would only fail later with a network error.
 */
export function localParent(spec: string): string | undefined {
  const first = spec.split(/[\\/]/)[0];
  if (!first || first === '.' || first === '..' || !spec.includes('/')) return undefined; // './x' is a path anyway
  return fs.statSync(first, { throwIfNoEntry: false })?.isDirectory() ? first : undefined;
}

/** One repository at one revision: settings, cache folder and (once known) the commit. */
interface Session {
  s: HubSettings;
  repoId: string;
  revision: string;
  folder: string;
  commit?: string;
  onProgress?: (p: DownloadProgress) => void;
}

function ctxOf(x: Session, file?: string): RequestContext {
  const { endpoint, token, timeoutMs, etagTimeoutMs } = x.s;
  return { endpoint, token, timeoutMs, etagTimeoutMs, repoId: x.repoId, revision: x.revision, file };
}

function resolveUrl(x: Session, rev: string, file: string): string {
  return `${x.s.endpoint}/${x.repoId}/resolve/${encodeURIComponent(rev)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

function notCached(x: Session, what: string): HubError {
  return new HubError(
    'not-cached',
    `${x.repoId} (revision ${x.revision}): ${what} is not in the Hugging Face cache ${x.folder} and downloads are off ` +
      `(--offline / HF_HUB_OFFLINE); run once online, or copy a cache that has it (HF_HUB_CACHE)`,
  );
}

/**
 * One file of the repository, from the cache or downloaded into it (blob + snapshot link + ref); undefined when
 * `optional` and the file does not exist at that revision.
 */
async function fetchFile(x: Session, file: string, optional: boolean): Promise<string | undefined> {
  checkRepoPath(file, `${x.repoId}@${x.revision}`);
  if (x.commit) {
    const c = cachedFile(x.folder, x.commit, file);
    if (c === 'missing' && optional) return undefined;
    if (c && c !== 'missing') return c;
  }
  if (x.s.offline) {
    if (optional) return undefined;
    throw notCached(x, `'${file}'`);
  }
  let meta;
  try {
    meta = await headFile(resolveUrl(x, x.commit ?? x.revision, file), ctxOf(x, file));
  } catch (e) {
    if (optional && e instanceof HubError && e.kind === 'entry-not-found') {
      if (x.commit) markMissing(x.folder, x.commit, file);
      return undefined;
    }
    throw e;
  }
  if (!x.commit) {
    x.commit = meta.commit;
    writeRef(x.folder, x.revision, meta.commit);
  }
  const have = cachedFile(x.folder, meta.commit, file);
  if (have && have !== 'missing') return have;
  const m = meta;
  const blob = blobPath(x.folder, m.etag);
  const blobOk = () => fs.existsSync(blob) && (m.size === undefined || fs.statSync(blob).size === m.size);
  if (!blobOk())
    await withBlobLock(x.s.cacheDir, x.folder, m.etag, async () => {
      if (blobOk()) return; // fetched by whoever held the lock before
      fs.mkdirSync(path.dirname(blob), { recursive: true });
      await downloadBlob({
        url: m.location,
        incomplete: `${blob}.incomplete`,
        dest: blob,
        size: m.size,
        // headFile made sure an LFS etag is a sha256
        sha256: m.lfs ? m.etag : undefined,
        label: `${x.repoId}/${file}`,
        onProgress: x.onProgress,
        ctx: ctxOf(x, file),
      });
    });
  return linkBlob(x.folder, meta.commit, file, meta.etag);
}

/** The repository's file list at the revision (Hub API), or undefined where the endpoint has no API. */
async function listFiles(x: Session): Promise<Set<string> | undefined> {
  const url = `${x.s.endpoint}/api/models/${x.repoId}/revision/${encodeURIComponent(x.revision)}`;
  let info: any;
  try {
    info = await getJson(url, ctxOf(x));
  } catch (e) {
    // A plain 404 (no X-Error-Code) is a mirror without the API: probe file by file instead.
    if (e instanceof HubError && e.kind === 'entry-not-found') return undefined;
    throw e;
  }
  if (typeof info?.sha !== 'string' || !Array.isArray(info.siblings) || !info.siblings.every((f: unknown) => typeof (f as { rfilename?: unknown } | null)?.rfilename === 'string'))
    throw new HubError('http', `${url}: unexpected answer (no sha / siblings with rfilename)`);
  x.commit = checkCommit(info.sha, `${url} (sha)`);
  writeRef(x.folder, x.revision, x.commit);
  // Only membership is asked of this list; a name becomes a path in fetchFile, which checks it.
  return new Set(info.siblings.map((f: { rfilename: string }) => f.rfilename));
}

function shardsOf(indexFile: string): string[] {
  let idx: any;
  try {
    idx = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (e) {
    throw new Error(`${indexFile}: not a readable JSON index (${(e as Error).message})`);
  }
  if (!idx || typeof idx.weight_map !== 'object' || idx.weight_map === null) throw new Error(`${indexFile}: no weight_map`);
  // A repository's own index names files to fetch and link: none may leave it (nor reach another repo's URL).
  const shards = Object.entries(idx.weight_map as Record<string, unknown>).map(([k, v]) => checkRepoPath(v, `${indexFile}: weight_map[${JSON.stringify(k)}]`));
  return [...new Set(shards)];
}

/**
 * Downloads what `parts` need of a model repository into the Hugging Face cache (only files the repository has)
 * and returns the snapshot folder, usable as a model folder. Offline, or when the Hub cannot be reached, it returns
 * the cached snapshot of that revision (a branch or tag is looked up in refs/).
 */
export async function snapshotDownload(repoId: string, opts: SnapshotOptions = {}): Promise<string> {
  const s = hubSettings(opts);
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const revision = checkRepoPath(opts.revision ?? 'main', repoId, 'revision');
  const x: Session = {
    s, repoId, revision, folder: repoFolder(s.cacheDir, repoId),
    onProgress: opts.onProgress ? opts.onProgress : s.progress ? stderrProgress() : undefined,
  };
  const parts = new Set(opts.parts ?? MODEL_PARTS);
  let listing: Set<string> | undefined;
  if (s.offline) {
    x.commit = readRef(x.folder, x.revision);
    if (!x.commit || !fs.existsSync(snapshotDir(x.folder, x.commit))) throw notCached(x, 'the snapshot');
  } else {
    try {
      listing = await listFiles(x);
    } catch (e) {
      const commit = readRef(x.folder, x.revision);
      if (!(e instanceof HubError && e.kind === 'network') || !commit || !fs.existsSync(snapshotDir(x.folder, commit))) throw e;
      log(`${e.message}\n${repoId}: using the cached snapshot ${commit} of '${x.revision}'`);
      x.s = { ...s, offline: true };
      x.commit = commit;
    }
  }
  const has = async (f: string): Promise<boolean> => {
    if (listing) return listing.has(f);
    if (x.s.offline) return ![undefined, 'missing'].includes(cachedFile(x.folder, x.commit!, f));
    return (await fetchFile(x, f, true)) !== undefined;
  };
  // config.json first: without the API its HEAD is what tells the commit.
  if (parts.has('config')) await fetchFile(x, 'config.json', false);
  if (parts.has('weights')) {
    let found: string | undefined;
    for (const f of WEIGHT_FILES) if (await has(f)) { found = f; break; }
    if (!found) {
      if (x.s.offline) throw notCached(x, `a weights file (${WEIGHT_FILES.join(', ')})`);
      throw new HubError('entry-not-found', `${repoId} (revision ${x.revision}): no weights file (${WEIGHT_FILES.join(', ')})`);
    }
    const p = (await fetchFile(x, found, false))!;
    if (found.endsWith('.index.json')) for (const shard of shardsOf(p)) await fetchFile(x, shard, false);
  }
  const optional = [...(parts.has('tokenizer') ? TOKENIZER_FILES : []), ...(parts.has('processor') ? ['preprocessor_config.json'] : [])];
  for (const f of optional) if (await has(f)) await fetchFile(x, f, !listing);
  if (!x.commit) throw new HubError('http', `${repoId}: could not tell the commit of revision '${x.revision}'`);
  return snapshotDir(x.folder, x.commit);
}

/**
 * A model, tokenizer or checkpoint named by the user: an existing local path is returned as is; a hub id
 * ("org/name", "org/name@revision") is fetched into the Hugging Face cache and its snapshot folder returned;
 * anything else is returned unchanged for the caller to report.
 */
export async function resolvePretrained(spec: string, opts: SnapshotOptions = {}): Promise<string> {
  if (fs.existsSync(spec)) return spec;
  const ref = parseHubId(spec);
  if (!ref || localParent(spec)) return spec; // a missing local path: the caller says so
  try {
    return await snapshotDownload(ref.repoId, { ...opts, revision: ref.revision ?? opts.revision });
  } catch (e) {
    if (e instanceof HubError && (e.kind === 'repo-not-found' || e.kind === 'not-cached')) {
      throw new HubError(e.kind, `${e.message} (and '${spec}' is not a local folder either)`, e.status);
    }
    throw e;
  }
}
