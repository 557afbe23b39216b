import { parseHubId, isHubId } from '@altclip/checkpoint';

/** Options that name a model, teacher, student, tokenizer or checkpoint: each may be a hub id (org/name). */
export const HUB_ARG_KEYS = ['model', 'teacher', 'student', 'vision', 'tokenizer', 'teacherTokenizer', 'teacher-tokenizer', 'in'];

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
  for (const k of HUB_ARG_KEYS) {
    const v = argv[k];
    if (typeof v !== 'string' || !isHubId(v)) continue;
    used = true;
    if (parseHubId(v)!.revision === undefined) argv[k] = `${v}@${rev}`;
  }
  if (!used) throw new Error(`--revision ${rev}: no hub id (org/name) among --model/--teacher/--student/--vision/--tokenizer/--teacher-tokenizer/--in; it applies to hub ids only`);
}
