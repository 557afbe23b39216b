import * as os from 'os';
import type { CommandModule } from 'yargs';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, BackendName } from '@altclip/backend';

export const infoCommand: CommandModule<{ backend?: string }, { backend?: string; json?: boolean }> = {
  command: 'info',
  describe: 'Show the chosen TensorFlow.js backend and why, versions, threads and memory',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print JSON' }) as any,
  handler: async (args) => {
    const choice = await setupBackend({ backend: args.backend as BackendName | 'auto' | undefined });
    const mem = process.memoryUsage();
    const info = {
      backend: choice.name,
      reason: choice.reason,
      skipped: choice.skipped,
      versions: { node: process.versions.node, 'tfjs-core': tf.version_core, altclip: require('../../package.json').version },
      threads: { cpus: os.cpus().length },
      memory: { totalGiB: +(os.totalmem() / 2 ** 30).toFixed(1), freeGiB: +(os.freemem() / 2 ** 30).toFixed(1), rssMiB: +(mem.rss / 2 ** 20).toFixed(0) },
    };
    if (args.json) {
      console.log(JSON.stringify(info, null, 2));
      return;
    }
    console.log(`backend:   ${info.backend}  (${info.reason})`);
    for (const s of info.skipped) console.log(`  skipped ${s.name}: ${s.why}`);
    console.log(`versions:  node ${info.versions.node}, tfjs-core ${info.versions['tfjs-core']}, altclip ${info.versions.altclip}`);
    console.log(`threads:   ${info.threads.cpus} CPUs`);
    console.log(`memory:    ${info.memory.freeGiB} GiB free of ${info.memory.totalGiB} GiB, process RSS ${info.memory.rssMiB} MiB`);
  },
};
