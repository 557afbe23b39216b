/**
 * The training process of `npm run bench -- altclip-large-finetune` (bench/src/altclip-large-finetune.ts): the
 * library's runFinetune with `altclip finetune --preset flagai`'s settings, in the precision asked for through the
 * precision hooks (getPrecision(...).support / prepareModel / autocast), as the CLI will call them; no CLI involved.
 * With `profile`, every kernel of the backend is timed, and so are the step's phases (forward + backward, gradient
 * clipping, AdamW) by wrapping the library's functions the trainer calls; printed at the end.
 *
 *   node bench/dist/_finetune-child.js '<json: {model, data, out, steps, precision, profile, lockImage, frozenDtype, gradCheckpointing}>'
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { AltCLIPModel, getPrecision } from '@altclip/models';
import * as train from '@altclip/train';
import { profileKernels } from './_shared-encoder';

interface ChildOptions {
  model: string;
  data: string;
  out: string;
  steps: number;
  precision: string;
  profile: boolean;
  lockImage?: boolean;
  frozenDtype?: 'bf16' | 'f16';
  gradCheckpointing?: boolean;
}

/** Wraps `obj[name]` (a function the trainer calls through its module object) with a wall-clock timer. */
function timePhase(obj: object, name: string, phase: string, totals: Map<string, number>): void {
  const target = obj as Record<string, (...a: unknown[]) => unknown>;
  const f = target[name];
  target[name] = function (this: unknown, ...a: unknown[]) {
    const t0 = performance.now();
    try {
      return f.apply(this, a);
    } finally {
      totals.set(phase, (totals.get(phase) ?? 0) + performance.now() - t0);
    }
  };
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2]) as ChildOptions;
  const backend = await setupBackend();
  const precision = getPrecision(o.precision);
  console.log(`backend: ${backend.name}; ${precision.support().line}`);
  const model = await AltCLIPModel.fromPretrained(o.model);
  // Every parameter is trained (--preset flagai) unless the image tower is locked, which the stage stores itself.
  const stored = precision.prepareModel(model, model.namedParameters().keys());
  if (stored) console.log(stored);
  const phases = new Map<string, number>();
  let stopKernels: (() => void) | undefined;
  if (o.profile) {
    // The trainer calls these through the package's module objects (CommonJS), so wrapping the exports times them.
    timePhase(require('@altclip/train/dist/grads'), 'computeGradients', 'forward + backward', phases);
    timePhase(require('@altclip/train/dist/grads'), 'clipByGlobalNorm', 'gradient norm + clipping', phases);
    timePhase(train.AdamW.prototype, 'step', 'AdamW', phases);
    stopKernels = profileKernels(tf.getBackend(), (ms) => `profile: kernel time by kernel (all steps, ${ms.toFixed(0)} ms in kernels):`, 25);
  }
  const t0 = performance.now();
  const r = await precision.autocast(() =>
    train.runFinetune({
      preset: 'flagai', model, tokenizer: o.model, dataset: 'cifar10', data: o.data, split: 'train', steps: o.steps, logEvery: 1, checkpointEvery: 0, out: o.out,
      progress: false, lockImage: o.lockImage, frozenDtype: o.frozenDtype, gradCheckpointing: o.gradCheckpointing,
    }),
  );
  const wall = performance.now() - t0;
  if (o.profile) {
    stopKernels!();
    const inPhases = [...phases.values()].reduce((a, b) => a + b, 0);
    console.log(`profile: phases over ${r.step} steps (${wall.toFixed(0)} ms in runFinetune, incl. loading data and saving final/):`);
    for (const [p, ms] of phases) console.log(`    ${p.padEnd(26)} ${ms.toFixed(0).padStart(8)} ms ${(ms / r.step).toFixed(0).padStart(7)} ms/step`);
    console.log(`    ${'everything else'.padEnd(26)} ${(wall - inPhases).toFixed(0).padStart(8)} ms`);
  }
  model.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
