import * as fs from 'fs';
import type { CommandModule } from 'yargs';
import { assertOutput } from '@altclip/checkpoint';
import { mergeTeacherCache } from '@altclip/train';
import { optionsFromArgv, withOptions } from '../options';
import { mergeParts } from '../parts';
import { mergeRetrieval, mergeZeroShot } from './eval-parts';
import { mergeEmbed } from './embed';

/**
 * `altclip merge`: joins what the shards of a job array wrote into what one unsharded run writes. Part files of
 * `eval zeroshot|retrieval` and `embed --shard i/N` (all of one run) go to --out; teacher-cache folders
 * (`distill --cache-teacher-only --shard i/N`) get their index.json, in place.
 */
export async function runMerge(parts: string[], out: string | undefined, log: (s: string) => void = console.log): Promise<void> {
  const isDir = (p: string) => fs.existsSync(p) && fs.statSync(p).isDirectory();
  const dirs = parts.filter(isDir);
  if (dirs.length && dirs.length < parts.length) {
    throw new Error(`merge: ${dirs[0]} is a folder (a teacher cache) but ${parts.find((p) => !isDir(p))} is not: merge one job array's output at a time`);
  }
  if (dirs.length) {
    if (out) throw new Error(`merge: ${dirs[0]} is a teacher-cache folder, which is merged in place (its index.json); --out is for eval and embed parts`);
    for (const dir of dirs) {
      const ix = await mergeTeacherCache(dir);
      log(`merged ${ix.parts.length} part(s) of ${dir}: teacher cache of ${ix.rows} rows (${ix.dim}-d ${ix.dtype}); distill now reads it`);
    }
    return;
  }
  if (!out) throw new Error('merge: give --out FILE, the --out of the unsharded run (the parts are FILE.shard-0000-of-000N, ...)');
  assertOutput(out, 'file', '--out');
  const r = await mergeParts(parts, out, { zeroshot: mergeZeroShot(log), retrieval: mergeRetrieval(log), embed: mergeEmbed });
  log(`merged ${r.parts} ${r.kind} part(s) into ${r.files.join(' and ')}`);
}

export const mergeCommand: CommandModule = {
  command: 'merge <parts..>',
  describe: 'Join the parts a job array wrote (--shard i/N) into the unsharded result: eval/embed parts into --out, a teacher-cache folder gets its index',
  builder: (y) =>
    withOptions(y, 'merge')
      .example('$0 merge zs.json.shard-*-of-0008 --out zs.json', 'after eval zeroshot ... --out zs.json --shard i/8 on every task of the array')
      .example('$0 merge runs/.cache/teacher-3f2a...', 'after distill --cache-teacher-only --shard i/N on every task of the array'),
  handler: async (argv) => {
    const a = optionsFromArgv('merge', argv);
    await runMerge(a.parts!, a.out);
  },
};
