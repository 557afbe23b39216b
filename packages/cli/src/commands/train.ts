/** The three training commands, built from the option schema: flags, then --config, then the stage function. */
import type { Argv, CommandModule } from 'yargs';
import { backendSummary, setupBackend, BackendName } from '@altclip/backend';
import { exitCodeFor, launcherRank, markChecked, OptionsOf, runContrastive, runDistill, runFinetune, StageResult, TrainCommand } from '@altclip/train';
import { optionsFromArgv, withOptions } from '../options';

/** Sets the backend up; says which (once per job: under mpirun/srun rank 0 alone, by the launcher's rank, before MPI starts). */
export async function withBackend(backend: unknown): Promise<void> {
  const b = await setupBackend({ backend: backend as BackendName | 'auto' | undefined });
  if (launcherRank() === 0) process.stderr.write(backendSummary(b) + '\n');
}

/** Exit status and last words of a stage: 0 when completed, 130/143 after SIGINT/SIGTERM (checkpoint saved). */
export function finish(stage: string, r: StageResult): void {
  if (r.status === 'interrupted') process.exitCode = exitCodeFor(r);
  if (r.writer === false) return; // a data-parallel rank other than 0: rank 0 reports for the job
  if (r.status === 'interrupted') {
    process.stderr.write(`${stage}: interrupted by ${r.signal} at step ${r.step}/${r.totalSteps}; checkpoint ${r.lastCheckpoint ?? '(none)'}; continue with --resume latest --out ${r.runDir}\n`);
    return;
  }
  const last = r.records[r.records.length - 1];
  process.stdout.write(`${stage}: done, ${r.step} steps${last ? `, final loss ${last.loss.toFixed(4)}` : ''}; model in ${r.finalDir}\n`);
}

/** What the CLI hands a stage: its options, with --no-progress meaning plain step lines (not silence). */
function stageInput<C extends TrainCommand>(o: OptionsOf<C>): Omit<OptionsOf<C>, 'progress'> & { progress?: 'plain' } {
  const { progress, ...rest } = o as OptionsOf<C> & { progress?: boolean }; // every training command has --progress (schema)
  return markChecked({ ...rest, progress: progress === false ? ('plain' as const) : undefined }); // values of checked options
}

function trainCommand<C extends TrainCommand>(
  command: C,
  describe: string,
  examples: string[],
  run: (o: ReturnType<typeof stageInput<C>>) => Promise<StageResult>,
): CommandModule {
  return {
    command,
    describe,
    builder: (y: Argv) => examples.reduce((yy, e) => yy.example(e, ''), withOptions(y, command)),
    handler: async (argv) => {
      await withBackend(argv.backend);
      finish(command, await run(stageInput(optionsFromArgv(command, argv))));
    },
  };
}

export const distillCommand = trainCommand(
  'distill',
  'Stage 1: distil a CLIP text encoder (teacher) into the AltCLIP text tower on parallel text',
  [
    '$0 distill --teacher clip-vit-large-patch14 --student xlm-roberta-large --data corpus.tsv --name stage1',
    '$0 distill --config configs/train/distill-tiny.json --teacher runs/teacher/final --student altclip-small --tokenizer datasets/demo-spm --data corpus.tsv',
  ],
  runDistill,
);

export const contrastiveCommand = trainCommand(
  'contrastive',
  'Stage 2: CLIP contrastive training on image-text pairs (image tower frozen by default)',
  [
    '$0 contrastive --model runs/distill/final --data pairs.tsv --batch-size 256 --lr 2e-6 --steps 2000 --name stage2',
    '$0 contrastive --config configs/train/contrastive-tiny.json --model altclip-tiny --tokenizer datasets/demo-spm --data pairs.jsonl',
  ],
  runContrastive,
);

export const finetuneCommand = trainCommand(
  'finetune',
  "Fine-tune on a classification dataset with CLIP loss on class-name captions (FlagAI's CIFAR-10 example with --preset flagai)",
  [
    '$0 finetune --model BAAI-AltCLIP --dataset cifar10 --data data/cifar-10-batches-bin --preset flagai --name cifar-flagai',
    '$0 finetune --model runs/stage2/final --dataset fashion-mnist --lang zh --epochs 1',
  ],
  runFinetune,
);
