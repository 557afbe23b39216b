import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { atomicWriteFile } from '@altclip/checkpoint';
import { readRunData, runReportHtml } from '../report/run-report';

interface ReportArgs {
  run: string;
  out?: string;
}

export const reportCommand: CommandModule<{}, ReportArgs> = {
  command: 'report <run>',
  describe: 'HTML report of a training run folder: one chart per logged metric, evaluations, configuration',
  builder: (y: Argv<{}>) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'run folder (holds config.json and metrics.jsonl)' })
      .option('out', { type: 'string', describe: 'HTML file to write (default <run>/report.html)' })
      .example('$0 report runs/stage1', 'writes runs/stage1/report.html') as unknown as Argv<ReportArgs>,
  handler: async (args) => {
    const out = args.out ?? path.join(args.run, 'report.html');
    const html = runReportHtml(readRunData(args.run));
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    await atomicWriteFile(out, [Buffer.from(html)]);
    process.stdout.write(`report written to ${out}\n`);
  },
};
