import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HubError } from './errors';

/** Where and how the Hugging Face Hub is reached; the same environment variables as Python's huggingface_hub. */
export interface HubSettings {
  /** HF_ENDPOINT, default https://huggingface.co (no trailing slash). */
  endpoint: string;
  /** HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub (HF_HOME default ~/.cache/huggingface). */
  cacheDir: string;
  /** HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the file HF_TOKEN_PATH / $HF_HOME/token. */
  token?: string;
  /** HF_HUB_OFFLINE=1: never touch the network, use only the cache. */
  offline: boolean;
  /** A progress bar on stderr (HF_HUB_DISABLE_PROGRESS_BARS=1 turns it off). */
  progress: boolean;
  /** ms of silence allowed in a download, before its headers and between its bytes: HF_HUB_DOWNLOAD_TIMEOUT (seconds), default 30 s. */
  timeoutMs: number;
  /** The same for metadata requests (HEAD, API): HF_HUB_ETAG_TIMEOUT (seconds), default timeoutMs. */
  etagTimeoutMs: number;
}

/** Per-call overrides of the environment; `token: false` sends no token at all. */
export interface HubOptions {
  endpoint?: string;
  cacheDir?: string;
  token?: string | false;
  offline?: boolean;
  /** Branch, tag or commit; default 'main'. */
  revision?: string;
  /** Called while a file downloads; `false` silences the default stderr bar. */
  onProgress?: ((p: DownloadProgress) => void) | false;
  /** ms of silence allowed in a download (default HF_HUB_DOWNLOAD_TIMEOUT or 30 s). */
  timeoutMs?: number;
  /** ms of silence allowed in a metadata request (default HF_HUB_ETAG_TIMEOUT, else timeoutMs). */
  etagTimeoutMs?: number;
}

export interface DownloadProgress {
  /** repo/file being downloaded. */
  label: string;
  done: number;
  total: number | undefined;
}

// Same spellings huggingface_hub accepts as "true".
const TRUE_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);

export function envTrue(v: string | undefined): boolean {
  return v !== undefined && TRUE_VALUES.has(v.trim().toUpperCase());
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** HF_HOME, default $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface. */
export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  return path.join(env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'), 'huggingface');
}

function readTokenFile(env: NodeJS.ProcessEnv): string | undefined {
  const file = env.HF_TOKEN_PATH ? expandHome(env.HF_TOKEN_PATH) : path.join(hfHome(env), 'token');
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function settingError(name: string, value: unknown, want: string): HubError {
  return new HubError('setting', `${name}=${JSON.stringify(value)}: ${want}`);
}

// setTimeout's limit: a longer delay fires at once.
const MAX_MS = 2 ** 31 - 1;

/** Seconds from the environment as ms: unset or empty is undefined, anything but a positive number an error. */
function secondsMs(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name]?.trim();
  if (!v) return undefined;
  const ms = Number(v) * 1000;
  if (!/^(\d+\.?\d*|\.\d+)$/.test(v) || !(ms >= 1 && ms <= MAX_MS))
    throw settingError(name, env[name], `not a number of seconds (a positive number such as 30, at most ${Math.floor(MAX_MS / 1000)})`);
  return ms;
}

function positiveMs(name: string, v: number | undefined): number | undefined {
  if (v !== undefined && !(v >= 1 && v <= MAX_MS)) throw settingError(name, v, `not a number of milliseconds from 1 to ${MAX_MS}`);
  return v;
}

function checkEndpoint(endpoint: string, name: string): string {
  let u: URL | undefined;
  try {
    u = new URL(endpoint);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password || u.search || u.hash)
    throw settingError(name, endpoint, 'not an http(s) URL such as https://huggingface.co (without user, query or fragment)');
  return endpoint;
}

/** The settings from the environment, with `o` taking precedence; a wrong HF_* value is a HubError('setting'). */
export function hubSettings(o: HubOptions = {}, env: NodeJS.ProcessEnv = process.env): HubSettings {
  const endpoint = checkEndpoint((o.endpoint ?? env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''), o.endpoint ? 'endpoint' : 'HF_ENDPOINT');
  const timeoutMs = positiveMs('timeoutMs', o.timeoutMs) ?? secondsMs(env, 'HF_HUB_DOWNLOAD_TIMEOUT') ?? 30000;
  const cacheEnv = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  const cacheDir = o.cacheDir ?? (cacheEnv ? expandHome(cacheEnv) : path.join(hfHome(env), 'hub'));
  const token = o.token === false ? undefined : o.token ?? (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || readTokenFile(env));
  return {
    endpoint,
    cacheDir,
    token: token || undefined,
    offline: o.offline ?? envTrue(env.HF_HUB_OFFLINE),
    progress: o.onProgress !== false && !envTrue(env.HF_HUB_DISABLE_PROGRESS_BARS),
    timeoutMs,
    etagTimeoutMs: positiveMs('etagTimeoutMs', o.etagTimeoutMs) ?? secondsMs(env, 'HF_HUB_ETAG_TIMEOUT') ?? timeoutMs,
  };
}
