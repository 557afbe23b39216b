import type { CommandModule } from 'yargs';
import { backendSummary, setupBackend, BackendName } from '@altclip/backend';
import { runDemo } from '../demo/run';
import { backendOf, optionsFromArgv, withOptions } from '../options';

export const demoCommand: CommandModule = {
  command: 'demo',
  describe: 'Offline end-to-end demo on Fashion-MNIST: English CLIP teacher -> distill (EN-EN + EN-ZH) -> contrastive; Table 1 + report.html',
  builder: (y) =>
    withOptions(y, 'demo')
      .example('$0 demo', 'the full demo (about 1.5 minutes on 2 CPU cores with the native addon; see README)')
      .example('$0 demo --fast --out /tmp/demo', 'a quick run'),
  handler: async (argv) => {
    const a = optionsFromArgv('demo', argv);
    const choice = await setupBackend({ backend: backendOf(argv) as BackendName | 'auto' | undefined });
    console.log(backendSummary(choice));
    const r = await runDemo({ out: a.out, fast: a.fast, resume: a.resume, fashionMnistDir: a.fashionMnist, backend: choice.name, precision: a.precision });
    if (r.status !== 'completed') process.exitCode = 130;
  },
};
