import { ClassificationDataset, openClassificationDataset } from '@altclip/data';
import { builtinZeroShotSet, evaluateZeroShot, Lang, zeroShotMetrics } from '@altclip/eval';
import type { ImageProcessor } from '@altclip/image';
import type { ClipLikeModel } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';
import type { DataParallel } from '../parallel/types';
import { gatherParts } from '../parallel/gather';

/** Zero-shot evaluation during training: the --eval-* options. */
export interface EvalOptions {
  /** cifar10 | fashion-mnist | mnist | folder (opened on first use) or an opened dataset. */
  evalDataset?: string | ClassificationDataset;
  evalData?: string;
  /** Default 'test'. */
  evalSplit?: 'train' | 'test';
  /** Built-in class names/templates of that language (default en). */
  evalLang?: Lang;
  /** Evaluate on the first N images only (keeps the hook cheap). */
  evalLimit?: number;
}

/**
 * The evaluation train() runs every evalEvery steps and at the end, or undefined without --eval-dataset. With several
 * ranks each evaluates its part of the images and the logits are gathered: every rank gets the metrics of all.
 */
export function evalHook(o: EvalOptions, model: ClipLikeModel, tokenizer: TextTokenizer, processor: ImageProcessor, dp: DataParallel) {
  const spec = o.evalDataset;
  if (!spec) return undefined;
  let ds: ClassificationDataset | undefined;
  return async (): Promise<Record<string, number>> => {
    ds ??= typeof spec === 'string' ? await openClassificationDataset(spec, { data: o.evalData, split: o.evalSplit ?? 'test' }) : spec;
    const builtin = builtinZeroShotSet(typeof spec === 'string' ? spec : ds.name, o.evalLang ?? 'en');
    const n = Math.min(ds.size, o.evalLimit ?? ds.size);
    const [start, end] = dp.itemRange(n);
    const r = await evaluateZeroShot({
      model,
      tokenizer,
      dataset: ds,
      classnames: builtin.classnames ?? undefined,
      templates: builtin.templates,
      processor,
      start,
      limit: end - start,
      batchSize: 64,
      keepLogits: dp.size > 1,
    });
    if (dp.size === 1) return { zeroshot_acc1: r.metrics.acc1, zeroshot_acc5: r.metrics.acc5, zeroshot_mean_per_class_recall: r.metrics.meanPerClassRecall, zeroshot_n: r.n };
    const c = r.logits!.length / r.n;
    const logits = gatherParts(dp.collective, r.logits!, c, 'evaluation logits'); // [n, C] in image order
    const labels = gatherParts(dp.collective, Float32Array.from(r.labels!), 1, 'evaluation labels');
    const m = zeroShotMetrics({ data: logits.data, shape: [labels.rows, c] }, Int32Array.from(labels.data));
    return { zeroshot_acc1: m.acc1, zeroshot_acc5: m.acc5, zeroshot_mean_per_class_recall: m.meanPerClassRecall, zeroshot_n: labels.rows };
  };
}
