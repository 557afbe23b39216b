import { ClassificationDataset } from '@altclip/data';
import { openClassificationDataset } from './datasets';
import { builtinZeroShotSet, datasetLoader, fillTemplate, loadClassnames, loadTemplates, Lang } from '@altclip/eval';
import type { TextTokenizer } from '@altclip/tokenizers';
import { hashInts } from '../rng';
import {
  AnyClipModel, ClipBatch, clipBatchSource, clipStageParts, CommonStageOptions, resolveModel, resolveRunDir, saveFinalModel, textMaxLength, trainClipStage,
  trainConfigOf, withDefaults,
} from './common';
import { StageResult } from './contrastive';
import { formatReport, isShardFolder } from '@altclip/data';
import type { BatchSource } from '../trainer';
import type { DataSource } from '../sources/types';
import { DatasetType, StreamOptions, webDatasetClipSource } from '../sources/webdataset';
import * as fs from 'fs';
import * as path from 'path';

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

export interface FinetuneOptions extends CommonStageOptions, StreamOptions {
  /** 'webdataset' (or --dataset webdataset): `data` is a shard list; each sample's class is its .cls member or labelKey. */
  datasetType?: DatasetType;
  /** WebDataset class label: 'cls' (default) or 'json:<field>'. */
  labelKey?: string;
  model: string | AnyClipModel;
  tokenizer?: string | TextTokenizer;
  /** cifar10 | fashion-mnist | mnist | folder, or a dataset already opened. */
  dataset: string | ClassificationDataset;
  /** cifar10: folder with the .bin files; fashion-mnist/mnist: folder with the IDX files; folder: class folders. */
  data?: string;
  split?: 'train' | 'test';
  /** Download CIFAR-10 (md5-checked) into `data` when it is missing. */
  download?: boolean;
  lang?: Lang;
  /** Class names (array, or a JSON/text file) and templates (array, a template-set name or a file); `{c}` = class. */
  classnames?: string[] | string;
  templates?: string[] | string;
  /** Train on the first N samples only. */
  limit?: number;
  preset?: 'flagai' | 'default';
}

/** `altclip finetune`: CLIP loss on (image, "a photo of a <class>") pairs from a classification dataset. */
export async function runFinetune(opts: FinetuneOptions): Promise<StageResult> {
  const o = withDefaults<FinetuneOptions>(opts.preset === 'flagai' ? FINETUNE_FLAGAI_PRESET : FINETUNE_DEFAULTS, opts);
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const cfg = trainConfigOf(o as unknown as Record<string, unknown>, 'finetune');
  const runDir = resolveRunDir(o, 'finetune');
  const kind = typeof o.dataset === 'string' ? o.dataset : o.dataset.name;
  // WebDataset shards (--dataset webdataset, or --data naming shards): class from .cls / a JSON field, streamed.
  const shards = o.dataset === 'webdataset' || o.datasetType === 'webdataset' ? o.data : undefined;
  if ((o.dataset === 'webdataset' || o.datasetType === 'webdataset') && !shards) throw new Error('finetune --dataset webdataset needs --data <shard list, e.g. shards/{00000..00009}.tar>');
  const ds = shards ? undefined : typeof o.dataset === 'string' ? await openClassificationDataset(o.dataset, o.data, o.split ?? 'train', o.download) : o.dataset;
  const lang = o.lang ?? 'en';
  const builtin = builtinZeroShotSet(kind, lang);
  const shardClasses = shards ? shardClassNames(shards) : undefined;
  const classnames = Array.isArray(o.classnames) ? o.classnames : o.classnames ? loadClassnames(o.classnames, kind) : builtin.classnames ?? (lang === 'en' ? ds?.classNames ?? shardClasses : null);
  if (!classnames) throw new Error(`finetune: no ${lang} class names for '${kind}'; pass --classnames <file>${shards ? ' (or put a classnames.txt beside the shards)' : ''}`);
  if (ds && classnames.length !== ds.classNames.length) throw new Error(`finetune: ${classnames.length} class names for ${ds.classNames.length} classes in ${ds.name}`);
  const templates = Array.isArray(o.templates) ? o.templates : o.templates ? loadTemplates(o.templates, kind) : builtin.templates;
  const size = ds ? Math.min(ds.size, o.limit ?? ds.size) : 0;
  // A fixed template per sample (seeded), so a resumed run and an uninterrupted one see the same captions.
  const caption = (i: number) => fillTemplate(templates[hashInts(cfg.seed ?? 0, i, 0x7e3) % templates.length], classnames[ds!.labels[i]]);

  const { model, dir } = await resolveModel(o.model, cfg.seed ?? 0);
  try {
    const parts = await clipStageParts({ ...o, log }, model, dir);
    const { tokenizer, processor, all, params, imageFrozen } = parts;
    let failed = 0;
    const streamed = shards
      ? await webDatasetClipSource({
          ...o, data: shards, captions: false, labelKey: o.labelKey ?? 'cls', processor: parts.processor, tokenizer: parts.tokenizer,
          maxLength: o.maxLength ?? textMaxLength(model as any), model, imageFrozen: parts.imageFrozen, log,
          classes: classnames.length,
          // Keyed by the sample's shard and place, like the index above: the same caption on resume.
          caption: (s, at) => fillTemplate(templates[hashInts(cfg.seed ?? 0, at.unit, at.offset, 0x7e3) % templates.length], classnames[s.label!]),
        })
      : undefined;
    const data: BatchSource<ClipBatch> | DataSource<ClipBatch> = streamed?.source ?? clipBatchSource({
      size,
      caption,
      loader: datasetLoader(model as any, ds!, processor, { skipErrors: true }),
      tokenizer,
      maxLength: o.maxLength ?? textMaxLength(model as any),
      model,
      imageFrozen,
      onFailed: (i, err) => {
        failed++;
        if (failed <= 5) log(`skipping unreadable image ${i}: ${err}`);
      },
    });
    if (ds) log(`finetune: ${ds.name}, ${size} images, ${classnames.length} classes, ${templates.length} template(s) (${lang}), ${params.size}/${all.size} parameter tensors trainable${imageFrozen ? ' (image tower frozen)' : ''}, run ${runDir}`);
    const r = await trainClipStage({ stage: 'finetune', o, model, parts, data, cfg, runDir, log, runConfig: { dataset: kind, classnames, templates } });
    const finalDir = await saveFinalModel({ status: r.status, runDir, model, tokenizer, processor, log, message: (d) => `finetune: model written to ${d}` });
    if (streamed) log(formatReport(streamed.report).replace(/\n {2}line \d+: /g, '\n  '));
    return { ...r, runDir, finalDir, failedImages: streamed ? streamed.report.reasons['corrupt image'] ?? 0 : failed, report: streamed?.report };
  } finally {
    if (typeof o.model === 'string') model.dispose();
    if (typeof o.dataset === 'string') ds?.close?.();
  }
}

/** classnames.txt beside the shards (what `altclip shards --from <class folders>` writes), if there is one. */
function shardClassNames(spec: string): string[] | undefined {
  const first = spec.split('::')[0].trim();
  const dir = isShardFolder(first) ? first : path.dirname(first);
  const f = path.join(dir, 'classnames.txt');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean) : undefined;
}
