import { ClassificationDataset, datasetLoader, formatStreamReport, openClassificationDataset, shardClassNames } from '@altclip/data';
import { builtinZeroShotSet, fillTemplate, loadClassnames, loadTemplates } from '@altclip/eval';
import { AnyClipModel, loadModelBundle, textMaxLength } from '@altclip/models';
import type { TextTokenizer } from '@altclip/tokenizers';
import { hashInts } from '@altclip/backend';
import { ClipBatch, clipBatchSource, clipParams, FEATURE_CHUNK, clipTask, warnSinglePairBatches } from '../tasks/clip';
import type { BatchSource } from '../trainer';
import type { DataSource } from '../sources/types';
import { isWebDatasetInput, webDatasetClipSource } from '../sources/webdataset';
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

/** Class names in the language asked for, and the templates they are filled into. */
function captionSet(o: FinetuneOptions, kind: string, datasetNames: string[] | undefined) {
  const lang = o.lang ?? 'en';
  const builtin = builtinZeroShotSet(kind, lang);
  const classnames = Array.isArray(o.classnames) ? o.classnames : o.classnames ? loadClassnames(o.classnames, kind) : builtin.classnames ?? (lang === 'en' ? datasetNames : null);
  if (!classnames) throw new Error(`finetune: no ${lang} class names for '${kind}'; pass --classnames <file>${kind === 'webdataset' ? ' (or put a classnames.txt beside the shards)' : ''}`);
  if (datasetNames && classnames.length !== datasetNames.length) throw new Error(`finetune: ${classnames.length} class names for ${datasetNames.length} classes in ${kind}`);
  const templates = Array.isArray(o.templates) ? o.templates : o.templates ? loadTemplates(o.templates, kind) : builtin.templates;
  // A fixed template per sample (seeded by its place in the data), so a resumed run sees the same captions.
  const caption = (label: number, ...place: number[]) => fillTemplate(templates[hashInts(...place, 0x7e3) % templates.length], classnames[label]);
  return { lang, classnames, templates, caption };
}

/** `altclip finetune`: CLIP loss on (image, "a photo of a <class>") pairs from a classification dataset or shards. */
export async function runFinetune(opts: FinetuneOptions): Promise<StageResult> {
  const { o, cfg, log, parallel } = resolveStage('finetune', (given) => (given.preset === 'flagai' ? FINETUNE_FLAGAI_PRESET : FINETUNE_DEFAULTS), opts);
  if (!o.model) throw new Error('finetune: --model is required');
  const runDir = resolveRunDir(o, 'finetune');
  const seed = cfg.seed ?? 0;
  // WebDataset shards (--dataset-type webdataset, or --data naming shards): each sample's class from .cls or --label-key.
  if (o.datasetType === 'webdataset' && !o.data) throw new Error('finetune --dataset-type webdataset needs --data <shard list, e.g. shards/{00000..00009}.tar>');
  const shards = isWebDatasetInput(o.data, o.datasetType) ? o.data : undefined;
  const given = typeof o.dataset === 'object' ? o.dataset : undefined;
  const kind = shards ? 'webdataset' : typeof o.dataset === 'object' ? o.dataset.name : o.dataset ?? 'cifar10';
  const ds = shards ? undefined : given ?? (await openClassificationDataset(kind, { data: o.data, split: o.split ?? 'train', download: o.download }));
  try {
    const { lang, classnames, templates, caption } = captionSet(o, kind, ds?.classNames ?? (shards ? shardClassNames(shards) : undefined));
    const bundle = await loadModelBundle(o.model!, { tokenizer: o.tokenizer, seed });
    const { model, tokenizer, processor } = bundle;
    try {
      const size = ds ? Math.min(ds.size, o.limit ?? ds.size) : 0;
      const { params, imageFrozen } = clipParams(o, model, log);
      const maxLength = o.maxLength ?? textMaxLength(model.config);
      let failed = 0;
      const streamed = shards
        ? await webDatasetClipSource({
            ...o, data: shards, captions: false, labelKey: o.labelKey ?? 'cls', processor, tokenizer, maxLength, model, imageFrozen, log, classes: classnames.length,
            caption: (s, at) => caption(s.label!, seed, at.unit, at.offset),
          })
        : undefined;
      const data: BatchSource<ClipBatch> | DataSource<ClipBatch> =
        streamed?.source ??
        clipBatchSource({
          size,
          caption: (i) => caption(ds!.labels[i], seed, i),
          loader: datasetLoader(ds!, processor, { skipErrors: true }),
          tokenizer,
          maxLength,
          model,
          imageFrozen,
          featureChunk: FEATURE_CHUNK, // a sample's cached features independent of its batch: exact resume (tasks/clip.ts)
          onFailed: (i, err) => {
            failed++;
            if (failed <= 5) log(`skipping unreadable image ${i}: ${err}`);
          },
        });
      warnSinglePairBatches(cfg.batchSize, ds ? size : undefined, 'finetune', log);
      log(`finetune: ${ds ? `${ds.name}, ${size} images` : 'WebDataset shards'}, ${classnames.length} classes, ${templates.length} template(s) (${lang}), ${params.size}/${model.namedParameters().size} parameter tensors trainable${imageFrozen ? ' (image tower frozen)' : ''}, run ${runDir}`);
      const task = clipTask(model, { imageFrozen, dropout: o.dropout, loss: o.loss });
      const { result, finalDir } = await trainStage({
        stage: 'finetune', o, cfg, runDir, log, parallel, task, data, model, tokenizer, processor, params,
        runConfig: { dataset: kind, classnames, templates },
        finalMessage: (d) => `finetune: model written to ${d}`,
      });
      if (streamed) log(formatStreamReport(streamed.report));
      return { ...result, runDir, finalDir, failedImages: streamed ? streamed.report.reasons['corrupt image'] ?? 0 : failed, report: streamed?.report };
    } finally {
      bundle.dispose();
    }
  } finally {
    if (!given) ds?.close?.();
  }
}
