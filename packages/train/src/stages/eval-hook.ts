import { ClassificationDataset } from '@altclip/data';
import { builtinZeroShotSet, evaluateZeroShot, Lang, ProcessorLike } from '@altclip/eval';
import { openClassificationDataset } from './datasets';
import type { ClipLikeModel } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';

/** Zero-shot evaluation during training (every evalEvery steps and at the end). */
export interface EvalSpec {
  /** cifar10 | fashion-mnist | mnist | folder (opened from `data` on first use) or an opened dataset. */
  dataset: string | ClassificationDataset;
  data?: string;
  /** Default 'test'. */
  split?: 'train' | 'test';
  /** Built-in class names/templates of that language (default en). */
  lang?: Lang;
  classnames?: string[];
  templates?: string[];
  /** Evaluate on the first `limit` images only (keeps the hook cheap). */
  limit?: number;
  batchSize?: number;
}

export function evalHook(spec: EvalSpec | undefined, model: ClipLikeModel, tokenizer: TextTokenizer, processor: ProcessorLike) {
  if (!spec) return undefined;
  let ds: ClassificationDataset | undefined;
  return async (): Promise<Record<string, number>> => {
    ds ??= typeof spec.dataset === 'string' ? await openClassificationDataset(spec.dataset, spec.data, spec.split ?? 'test') : spec.dataset;
    const builtin = builtinZeroShotSet(typeof spec.dataset === 'string' ? spec.dataset : ds.name, spec.lang ?? 'en');
    const r = await evaluateZeroShot({
      model: model as any,
      tokenizer: tokenizer as any,
      dataset: ds,
      classnames: spec.classnames ?? builtin.classnames ?? undefined,
      templates: spec.templates ?? builtin.templates,
      processor,
      limit: spec.limit,
      batchSize: spec.batchSize ?? 64,
    });
    return { zeroshot_acc1: r.metrics.acc1, zeroshot_acc5: r.metrics.acc5, zeroshot_mean_per_class_recall: r.metrics.meanPerClassRecall, zeroshot_n: r.n };
  };
}
