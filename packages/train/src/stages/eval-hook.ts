import { ClassificationDataset, openClassificationDataset } from '@altclip/data';
import { builtinZeroShotSet, evaluateZeroShot, Lang } from '@altclip/eval';
import type { ImageProcessor } from '@altclip/image';
import type { ClipLikeModel } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';

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

/** The evaluation train() runs every evalEvery steps and at the end, or undefined without --eval-dataset. */
export function evalHook(o: EvalOptions, model: ClipLikeModel, tokenizer: TextTokenizer, processor: ImageProcessor) {
  const spec = o.evalDataset;
  if (!spec) return undefined;
  let ds: ClassificationDataset | undefined;
  return async (): Promise<Record<string, number>> => {
    ds ??= typeof spec === 'string' ? await openClassificationDataset(spec, { data: o.evalData, split: o.evalSplit ?? 'test' }) : spec;
    const builtin = builtinZeroShotSet(typeof spec === 'string' ? spec : ds.name, o.evalLang ?? 'en');
    const r = await evaluateZeroShot({
      model,
      tokenizer,
      dataset: ds,
      classnames: builtin.classnames ?? undefined,
      templates: builtin.templates,
      processor,
      limit: o.evalLimit,
      batchSize: 64,
    });
    return { zeroshot_acc1: r.metrics.acc1, zeroshot_acc5: r.metrics.acc5, zeroshot_mean_per_class_recall: r.metrics.meanPerClassRecall, zeroshot_n: r.n };
  };
}
