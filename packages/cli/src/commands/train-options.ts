import type { Argv } from 'yargs';
import { setupBackend, BackendName } from '@altclip/backend';
import { exitCodeFor, optionProblems, readJsonConfig, StageResult } from '@altclip/train';

/**
 * Flags shared by `distill`, `contrastive` and `finetune`. None has a yargs default: an unset flag leaves the value
 * of --config (or the stage default) alone, so "config file, then flags" is a plain merge.
 */
export function trainFlags<T>(y: Argv<T>): Argv<T> {
  return y
    .option('config', { type: 'string', describe: 'JSON file with any of these options (flags override it); see configs/train/' })
    .option('out', { type: 'string', describe: 'run folder (default runs/<name> or runs/<stage>-<time>)' })
    .option('name', { type: 'string', describe: 'run name: the run folder is runs/<name>' })
    .option('resume', { type: 'string', describe: "continue a run: 'latest' (with --out/--name), a run folder or a checkpoint folder" })
    .option('seed', { type: 'number', describe: 'seed of initialisation, data order and dropout' })
    .option('batch-size', { type: 'number', describe: 'samples per optimizer step (global batch)' })
    .option('accum-steps', { type: 'number', describe: 'micro-batches per step (contrastive-aware gradient accumulation)' })
    .option('epochs', { type: 'number' })
    .option('steps', { type: 'number', describe: 'optimizer steps (with --epochs: whichever ends first)' })
    .option('lr', { type: 'number', describe: 'peak learning rate' })
    .option('schedule', { type: 'string', choices: ['cosine', 'linear', 'constant', 'flagai-cosine', 'flagai-linear'] })
    .option('warmup', { type: 'number', describe: 'warmup steps, or a fraction of all steps when < 1' })
    .option('min-lr', { type: 'number' })
    .option('betas', { type: 'array', number: true, describe: 'AdamW betas, e.g. --betas 0.9 0.98' })
    .option('eps', { type: 'number' })
    .option('weight-decay', { type: 'number', describe: 'decoupled weight decay (biases, LayerNorm weights, logit_scale excluded)' })
    .option('grad-clip', { type: 'number', describe: 'max global gradient norm (0: off)' })
    .option('log-every', { type: 'number' })
    .option('logger', { type: 'string', describe: "also log to 'tensorboard' (<run>/tensorboard/; e.g. --logger jsonl,tensorboard); metrics.jsonl is always written" })
    .option('checkpoint-every', { type: 'number', describe: 'steps between checkpoints (0: only at the end and on a signal)' })
    .option('keep-last', { type: 'number', describe: 'checkpoints kept' })
    .option('eval-every', { type: 'number' })
    .option('max-length', { type: 'number', describe: 'text tokens per caption' })
    .option('dropout', { type: 'boolean', describe: 'text dropout while training (default on)' })
    .option('grad-checkpointing', { type: 'boolean', describe: 'recompute each layer in the backward pass instead of keeping its activations (less memory, ~1/3 more compute)' })
    .option('frozen-dtype', { type: 'string', choices: ['f32', 'bf16', 'f16'], describe: 'storage of frozen parameters (a locked tower): bf16/f16 halve their memory, compute stays f32 (default f32, exact)' })
    .option('freeze-embeddings', { type: 'boolean' })
    .option('unlocked-text-layers', { type: 'number', describe: 'with --lock-text: last N text layers stay trainable' })
    .option('unlocked-image-layers', { type: 'number', describe: 'with --lock-image: last N vision layers stay trainable' })
    .option('eval-dataset', { type: 'string', choices: ['cifar10', 'fashion-mnist', 'mnist', 'folder'], describe: 'zero-shot evaluation every --eval-every steps and at the end (logged to metrics.jsonl)' })
    .option('eval-data', { type: 'string', describe: 'folder of the evaluation dataset' })
    .option('eval-split', { type: 'string', choices: ['train', 'test'], describe: 'default test' })
    .option('eval-lang', { type: 'string', choices: ['en', 'zh'], describe: 'class names/templates language (default en)' })
    .option('eval-limit', { type: 'number', describe: 'evaluate on the first N images only' })
    .option('progress', { type: 'boolean', default: true, describe: 'progress bar on a terminal (--no-progress: plain "step N/M" lines instead)' }) as Argv<T>;
}

/**
 * Which parameters train, for the stages where the user picks (`contrastive`, `finetune`; distill fixes it).
 * `lockImage` describes the stage's own default for --lock-image.
 */
export function lockFlags<T>(y: Argv<T>, lockImage: string): Argv<T> {
  return y
    .option('lock-image', { type: 'boolean', describe: lockImage })
    .option('lock-text', { type: 'boolean' })
    .option('freeze', { type: 'array', string: true, describe: 'regexes of parameter keys to freeze' }) as Argv<T>;
}

/** The option keys of lockFlags, for optionsFromArgs. */
export const LOCK_FLAG_KEYS = ['lockImage', 'lockText', 'freeze'];

const TRAIN_FLAG_KEYS = [
  'seed', 'batchSize', 'accumSteps', 'epochs', 'steps', 'lr', 'schedule', 'warmup', 'minLr', 'betas', 'eps', 'weightDecay', 'gradClip', 'logEvery', 'logger',
  'checkpointEvery', 'keepLast', 'evalEvery', 'maxLength', 'dropout', 'gradCheckpointing', 'frozenDtype', 'freezeEmbeddings', 'unlockedTextLayers', 'unlockedImageLayers',
  'out', 'name', 'resume',
];

/** --config file, then the flags that were given (`extra` names stage-specific keys). */
export function optionsFromArgs(args: Record<string, any>, extra: string[]): Record<string, unknown> {
  const file = args.config ? readJsonConfig(args.config) : {};
  const bad = optionProblems(file, (k) => `${args.config}: '${k}'`);
  if (bad.length) throw new Error(bad.join('\n'));
  const flags: Record<string, unknown> = {};
  for (const k of [...TRAIN_FLAG_KEYS, ...extra]) if (args[k] !== undefined) flags[k] = args[k];
  if (typeof flags.freeze === 'string') flags.freeze = [flags.freeze];
  const merged: Record<string, unknown> = { ...file, ...flags };
  if (args.evalDataset) merged.eval = { dataset: args.evalDataset, data: args.evalData, split: args.evalSplit, lang: args.evalLang, limit: args.evalLimit };
  for (const k of ['freeze', 'unfreeze']) if (Array.isArray(merged[k])) merged[k] = (merged[k] as string[]).map((p) => new RegExp(p));
  // A bar on a TTY, plain periodic lines otherwise; --no-progress: plain lines on a TTY too.
  return { ...merged, progress: args.progress === false ? 'plain' : undefined };
}

export async function withBackend(args: Record<string, any>): Promise<void> {
  const b = await setupBackend({ backend: args.backend as BackendName | 'auto' | undefined });
  process.stderr.write(`backend: ${b.name} (${b.reason})\n`);
}

/** Exit status and last words of a stage: 0 when completed, 130/143 after SIGINT/SIGTERM (checkpoint saved). */
export function finish(stage: string, r: StageResult): void {
  if (r.status === 'interrupted') {
    process.stderr.write(`${stage}: interrupted by ${r.signal} at step ${r.step}/${r.totalSteps}; checkpoint ${r.lastCheckpoint ?? '(none)'}; continue with --resume latest --out ${r.runDir}\n`);
    process.exitCode = exitCodeFor(r);
    return;
  }
  const last = r.records[r.records.length - 1];
  process.stdout.write(`${stage}: done, ${r.step} steps${last ? `, final loss ${last.loss.toFixed(4)}` : ''}; model in ${r.finalDir}\n`);
}
