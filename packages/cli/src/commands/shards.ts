import type { CommandModule } from 'yargs';
import { assertOutput } from '@altclip/checkpoint';
import { formatReport, shardsFrom } from '@altclip/data';
import { optionsFromArgv, withOptions } from '../options';

/** `altclip shards`: a pairs file or a folder of captioned images (or of class folders) as WebDataset shards. */
export const shardsCommand: CommandModule = {
  command: 'shards',
  describe: 'Write WebDataset shards (img2dataset layout) from a pairs file or an image folder, for --data on contrastive and finetune',
  builder: (y) =>
    withOptions(y, 'shards')
      .example('$0 shards --from pairs.tsv --out shards --per-shard 10000', 'then: altclip contrastive --data "shards/{00000..00009}.tar" ...')
      .example('$0 shards --from images/ --out class-shards', 'class folders: each sample gets a .cls; classnames.txt beside the shards'),
  handler: async (argv) => {
    const a = optionsFromArgv('shards', argv);
    assertOutput(a.out!, 'folder', '--out');
    let last = 0;
    const r = await shardsFrom(a.from!, a.out!, {
      perShard: a.perShard,
      gzip: a.gzip,
      root: a.imageRoot,
      onProgress: (samples, shards) => {
        if (Date.now() - last < 2000) return;
        last = Date.now();
        process.stderr.write(`shards: ${samples} samples in ${shards} shard(s)\n`);
      },
    });
    // What was read (rows skipped for a missing image or caption), then what was written (images that did not read).
    process.stderr.write(formatReport(r.source) + '\n' + formatReport(r.report) + '\n');
    console.log(`wrote ${r.samples} samples in ${r.shards.length} shard(s); train on --data '${r.pattern}'${r.classNames ? ` (${r.classNames.length} classes in classnames.txt)` : ''}`);
  },
};
