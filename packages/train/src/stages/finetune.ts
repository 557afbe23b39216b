import { ClassificationDataset, datasetLoader, openClassificationDataset } from '@altclip/data';
import { builtinZeroShotSet, fillTemplate, loadClassnames, loadTemplates } from '@altclip/eval';
import { AnyClipModel, loadModelBundle, textMaxLength } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';
import { hashInts } from '@altclip/backend';
import { clipBatchSource, clipParams, clipTask } from '../tasks/clip';
import { resolveRunDir, resolveStage, StageOptionsOf, StageResult, trainStage } from './common';

/**
 * FlagAI's examples/AltCLIP/altclip_finetuning.py (spec 5.3): batch 4, lr 1e-4, 10 epochs, warm_up 0.1 with
 * AnnealingLR cosine, weight decay 0.1, grad clip 1.0, seed 1234, every parameter trainable, dropout on. One
 * deliberate difference: captions use class names ("a photo of a cat"), not FlagAI's integer labels ("a photo of a 3").
 */
export const FINETUNE_FLAGAI_PRESET: Partial<FinetuneOptions> = {
  seed: 1234,
  batchSize: 4,
  lr: 1e-4,
  epochs: 10,
  warmup: 0.1,
  schedule: 'flagai-cosine',
  weightDecay: 0.1,
  betas: [0.9, 0.999],
  eps: 1e-8,
  gradClip: 1.0,
  dropLast: false,
  lockImage: false,
  templates: ['a photo of a {c}'],
};

/**
 * Saner defaults (spec 5.3's note on FlagAI issue #561): a larger batch (more negatives), lr 1e-5, the image tower
 * frozen as in stage 2, several prompt templates, cosine decay to 0 after a 5% warmup.
 */
export const FINETUNE_DEFAULTS: Partial<FinetuneOptions> = {
  seed: 0,
  batchSize: 64,
  lr: 1e-5,
  epochs: 3,
  warmup: 0.05,
  schedule: 'cosine',
  weightDecay: 0.1,
  betas: [0.9, 0.999],
  eps: 1e-8,
  gradClip: 1.0,
  lockImage: true,
};

export interface FinetuneOptions extends Omit<StageOptionsOf<'finetune'>, 'model' | 'tokenizer' | 'dataset' | 'classnames' | 'templates'> {
  model?: string | AnyClipModel;
  tokenizer?: string | TextTokenizer;
  /** cifar10 | fashion-mnist | mnist | folder (opened from `data`), or a dataset already opened. */
  dataset?: string | ClassificationDataset;
  /** Class names (array, or a JSON/text file) and templates (array, a template-set name or a file); `{c}` = class. */
  classnames?: string[] | string;
  templates?: string[] | string;
}

/** The captions of a classification dataset: class names in the language asked for, filled into templates. */
function captionsOf(o: FinetuneOptions, ds: ClassificationDataset, kind: string, seed: number) {
  const lang = o.lang ?? 'en';
  const builtin = builtinZeroShotSet(kind, lang);
  const classnames = Array.isArray(o.classnames) ? o.classnames : o.classnames ? loadClassnames(o.classnames, kind) : builtin.classnames ?? (lang === 'en' ? ds.classNames : null);
  if (!classnames) throw new Error(`finetune: no ${lang} class names for '${kind}'; pass --classnames <file>`);
  if (classnames.length !== ds.classNames.length) throw new Error(`finetune: ${classnames.length} class names for ${ds.classNames.length} classes in ${ds.name}`);
  const templates = Array.isArray(o.templates) ? o.templates : o.templates ? loadTemplates(o.templates, kind) : builtin.templates;
  // A fixed template per sample (seeded), so a resumed run and an uninterrupted one see the same captions.
  const caption = (i: number) => fillTemplate(templates[hashInts(seed, i, 0x7e3) % templates.length], classnames[ds.labels[i]]);
  return { lang, classnames, templates, caption };
}

/** `altclip finetune`: CLIP loss on (image, "a photo of a <class>") pairs from a classification dataset. */
export async function runFinetune(opts: FinetuneOptions): Promise<StageResult> {
  if (!opts.model) throw new Error('finetune: --model is required');
  const { o, cfg, log } = resolveStage('finetune', opts.preset === 'flagai' ? FINETUNE_FLAGAI_PRESET : FINETUNE_DEFAULTS, opts);
  const runDir = resolveRunDir(o, 'finetune');
  const given = typeof o.dataset === 'object' ? o.dataset : undefined;
  const kind = typeof o.dataset === 'object' ? o.dataset.name : o.dataset ?? 'cifar10';
  const ds = given ?? (await openClassificationDataset(kind, { data: o.data, split: o.split ?? 'train', download: o.download }));
  try {
    const { lang, classnames, templates, caption } = captionsOf(o, ds, kind, cfg.seed ?? 0);
    const bundle = await loadModelBundle(o.model!, { tokenizer: o.tokenizer, seed: cfg.seed ?? 0 });
    const { model, tokenizer, processor } = bundle;
    try {
      const size = Math.min(ds.size, o.limit ?? ds.size);
      const { params, imageFrozen } = clipParams(o, model, log);
      let failed = 0;
      const data = clipBatchSource({
        size,
        caption,
        loader: datasetLoader(ds, processor, { skipErrors: true }),
        tokenizer,
        maxLength: o.maxLength ?? textMaxLength(model.config),
        model,
        imageFrozen,
        onFailed: (i, err) => {
          failed++;
          if (failed <= 5) log(`skipping unreadable image ${i}: ${err}`);
        },
      });
      log(`finetune: ${ds.name}, ${size} images, ${classnames.length} classes, ${templates.length} template(s) (${lang}), ${params.size}/${model.namedParameters().size} parameter tensors trainable${imageFrozen ? ' (image tower frozen)' : ''}, run ${runDir}`);
      const task = clipTask(model, { imageFrozen, dropout: o.dropout, loss: o.loss });
      const { result, finalDir } = await trainStage({
        stage: 'finetune', o, cfg, runDir, log, task, data, model, tokenizer, processor, params,
        runConfig: { dataset: kind, classnames, templates },
        finalMessage: (d) => `finetune: model written to ${d}`,
      });
      return { ...result, runDir, finalDir, failedImages: failed };
    } finally {
      bundle.dispose();
    }
  } finally {
    if (!given) ds.close?.();
  }
}
