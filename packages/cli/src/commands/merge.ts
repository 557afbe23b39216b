import type { CommandModule } from 'yargs';
import { mergeTeacherCache } from '@altclip/train';
import { optionsFromArgv, withOptions } from '../options';

/**
 * `altclip merge`: joins what the shards of a job array wrote into what one unsharded run writes. Today: a teacher
 * cache computed by `distill --cache-teacher-only --shard i/N` (its index.json, from what every part records).
 */
export const mergeCommand: CommandModule = {
  command: 'merge <parts..>',
  describe: 'Join the parts a job array wrote (--shard i/N) into the unsharded result: a teacher-cache folder gets its index',
  builder: (y) =>
    withOptions(y, 'merge').example('$0 merge runs/.cache/teacher-3f2a...', 'after distill --cache-teacher-only --shard i/N on every task of the array'),
  handler: async (argv) => {
    const a = optionsFromArgv('merge', argv);
    for (const dir of a.parts!) {
      const ix = await mergeTeacherCache(dir);
      console.log(`merged ${ix.parts.length} part(s) of ${dir}: teacher cache of ${ix.rows} rows (${ix.dim}-d ${ix.dtype}); distill now reads it`);
    }
  },
};
