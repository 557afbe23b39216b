import type { Argv, CommandModule } from 'yargs';
import { setupBackend, BackendName } from '@altclip/backend';
import { runDemo } from '../demo/run';

interface DemoArgs {
  backend?: string;
  out?: string;
  fast?: boolean;
  resume?: boolean;
  'fashion-mnist'?: string;
}

export const demoCommand: CommandModule<{ backend?: string }, DemoArgs> = {
  command: 'demo',
  describe: 'Offline end-to-end demo on Fashion-MNIST: English CLIP teacher -> distill (EN-EN + EN-ZH) -> contrastive; Table 1 + report.html',
  builder: (y: Argv<{ backend?: string }>) =>
    y
      .option('out', { type: 'string', describe: 'output folder (default runs/demo-<timestamp>)' })
      .option('fast', { type: 'boolean', describe: 'smaller data, fewer steps: under a minute on 2 CPU cores with the native addon (7 without), vs about 1.5 for the full demo' })
      .option('resume', { type: 'boolean', describe: 'continue a demo run: skip finished stages, resume an interrupted one (default folder: the newest runs/demo-*)' })
      .option('fashion-mnist', { type: 'string', describe: 'folder with the Fashion-MNIST IDX files (default: $FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist, datasets/fashion-mnist)' })
      .example('$0 demo', 'the full demo (about 1.5 minutes on 2 CPU cores with the native addon; see README)')
      .example('$0 demo --fast --out /tmp/demo', 'a quick run') as unknown as Argv<DemoArgs>,
  handler: async (args) => {
    const choice = await setupBackend({ backend: args.backend as BackendName | 'auto' | undefined });
    console.log(`backend: ${choice.name} (${choice.reason})`);
    const r = await runDemo({ out: args.out, fast: args.fast, resume: args.resume, fashionMnistDir: args['fashion-mnist'], backend: choice.name });
    if (r.status !== 'completed') process.exitCode = 130;
  },
};
