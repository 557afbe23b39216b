// Child process for the signal/kill tests: trains the toy model in a run folder and reports progress on stdout.
import { setupBackend } from '@altclip/backend';
import * as fs from 'fs';
import * as path from 'path';
import { train, exitCodeFor, lockFile, writeFinalModel } from '../../src';
import { makeToy, toyData } from '../toy';

async function main() {
  const [runDir, mode] = process.argv.slice(2);
  await setupBackend({ backend: 'cpu' });
  const toy = makeToy(5);
  const inner = toyData(12);
  let n = 0;
  const data = {
    size: inner.size,
    batch: async (idx: number[]) => {
      process.stdout.write(`batch ${++n}\n`);
      await new Promise((r) => setTimeout(r, mode === 'slow' ? 30 : 0));
      return inner.batch(idx);
    },
  };
  const r = await train({
    task: toy.task, params: toy.params, data, runDir, resume: mode === 'resume' ? 'latest' : undefined, progress: false,
    // 'final': the final model is written slowly, so a signal lands while it is being written.
    finalize:
      mode === 'final'
        ? async () => {
            process.stdout.write(`finalizing ${fs.existsSync(lockFile(runDir)) ? 'locked' : 'unlocked'}\n`);
            await writeFinalModel(runDir, async (d) => {
              fs.mkdirSync(d, { recursive: true });
              await new Promise((r) => setTimeout(r, 700));
              fs.writeFileSync(path.join(d, 'model.txt'), 'weights');
            });
            process.stdout.write('final written\n');
          }
        : undefined,
    config: { seed: 3, batchSize: 4, steps: mode === 'forever' ? 1_000_000 : mode === 'final' ? 5 : 60, lr: 0.05, schedule: 'constant', warmup: 0, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, logEvery: 1, checkpointEvery: mode === 'forever' ? 1 : 0, keepLast: 2 },
  });
  process.stdout.write(`done ${r.status} ${r.step} ${JSON.stringify(r.losses)}\n`);
  process.exitCode = exitCodeFor(r);
}
main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(1);
});
