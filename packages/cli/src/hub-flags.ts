import { parseHubId, isHubId } from '@altclip/checkpoint';
import { kebab } from '@altclip/train';
import { HUB_ID_KEYS } from './options';

/**
 * Global --offline and --revision. --offline is HF_HUB_OFFLINE=1 for this run; --revision is appended as
 * "@revision" to every hub id named without one (folders are left alone), which is how the loaders take it.
 */
export function applyHubFlags(argv: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): void {
  if (argv.offline) env.HF_HUB_OFFLINE = '1';
  const rev = argv.revision;
  if (rev === undefined) return;
  if (typeof rev !== 'string' || !rev) throw new Error('--revision takes a branch, tag or commit hash');
  let used = false;
  for (const k of HUB_ID_KEYS) {
    const v = argv[k];
    if (typeof v !== 'string' || !isHubId(v)) continue;
    used = true;
    // yargs keeps both spellings of a flag; the commands read the camelCase one.
    if (parseHubId(v)!.revision === undefined) argv[k] = argv[kebab(k)] = `${v}@${rev}`;
  }
  if (!used) throw new Error(`--revision ${rev}: no hub id (org/name) among ${HUB_ID_KEYS.map((k) => `--${kebab(k)}`).join('/')}; it applies to hub ids only`);
}
