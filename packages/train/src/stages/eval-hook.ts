import { ClassificationDataset } from '@altclip/data';
import { evaluateZeroShot, ProcessorLike } from '@altclip/eval';
import type { ClipLikeModel } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';

/** Zero-shot evaluation during training (every evalEvery steps and at the end). */
export interface EvalSpec {
  dataset: ClassificationDataset;
  classnames?: string[];
  templates?: string[];
  /** Evaluate on the first `limit` images only (keeps the hook cheap). */
  limit?: number;
  batchSize?: number;
}

export function evalHook(spec: EvalSpec | undefined, model: ClipLikeModel, tokenizer: TextTokenizer, processor: ProcessorLike) {
  if (!spec) return undefined;
  return async (): Promise<Record<string, number>> => {
    const r = await evaluateZeroShot({
      model: model as any,
      tokenizer: tokenizer as any,
      dataset: spec.dataset,
      classnames: spec.classnames,
      templates: spec.templates,
      processor,
      limit: spec.limit,
      batchSize: spec.batchSize ?? 64,
    });
    return { zeroshot_acc1: r.metrics.acc1, zeroshot_acc5: r.metrics.acc5, zeroshot_mean_per_class_recall: r.metrics.meanPerClassRecall, zeroshot_n: r.n };
  };
}
