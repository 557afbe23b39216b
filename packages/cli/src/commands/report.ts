import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { assertOutput, atomicWriteFile } from '@altclip/checkpoint';
import { readRunData, runReportHtml } from '../report/run-report';
import { optionsFromArgv, withOptions } from '../options';

export const reportCommand: CommandModule = {
  command: 'report <run>',
  describe: 'HTML report of a training run folder: one chart per logged metric, evaluations, configuration',
  builder: (y) => withOptions(y, 'report').example('$0 report runs/stage1', 'writes runs/stage1/report.html'),
  handler: async (argv) => {
    const a = optionsFromArgv('report', argv);
    const run = a.run!;
    const out = a.out ?? path.join(run, 'report.html');
    assertOutput(out, 'file', '--out');
    const html = runReportHtml(readRunData(run));
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    await atomicWriteFile(out, [Buffer.from(html)]);
    process.stdout.write(`report written to ${out}\n`);
  },
};
