import * as path from 'path';
import type { CommandModule } from 'yargs';
import { openClassificationDataset, readRetrievalDataset, formatReport, resolveShard, RetrievalDataset, Shard } from '@altclip/data';
import { evaluateZeroShot, evaluateRetrieval, builtinZeroShotSet, loadTemplates, loadClassnames, zeroShotMetricsJson } from '@altclip/eval';
import { assertOutput } from '@altclip/checkpoint';
import type { OptionsOf } from '@altclip/train';
import { backendOf, optionsFromArgv, withOptions } from '../options';
import { openModel, progressLogger, unknownTextWarning } from './inference-util';
import { partNote, retrievalResultMetrics, retrievalTable, shardWindow, writeJson, writeRetrievalPart, writeZeroShotPart, zeroShotTable } from './eval-parts';
import { evalShardSpec, reportShards, resolvedData, retrievalShards, shardClassNamesOrFail, zeroShotShards } from './eval-shards';

type ZeroShotArgs = OptionsOf<'eval zeroshot'>;
type RetrievalArgs = OptionsOf<'eval retrieval'>;

/** Download progress at most every 2 s, to stderr. */
function downloadProgress(): (done: number, total: number) => void {
  let last = 0;
  return (d, t) => {
    if (Date.now() - last > 2000 || d === t) process.stderr.write(`  ${(d / 2 ** 20).toFixed(0)}/${(t / 2 ** 20).toFixed(0)} MiB\n`);
    last = Date.now();
  };
}

/** --shard (or the job array's index): the shard to evaluate, which needs --out (its part is written beside it). */
function evalShard(args: { shard?: string; out?: string }): Shard | undefined {
  const shard = resolveShard(args.shard);
  if (shard && !args.out) throw new Error(`--shard ${shard.index}/${shard.count}: give --out FILE.json (the part goes to FILE.json.shard-...; altclip merge joins them into FILE.json)`);
  return shard;
}

/** Opens the images, class names and templates of a zero-shot run (before the model: bad input fails first). */
async function zeroShotInput(args: ZeroShotArgs) {
  const shards = evalShardSpec(args.data, args.datasetType);
  const kind = shards ? 'webdataset' : args.dataset ?? 'cifar10';
  const lang = args.lang ?? 'en';
  if (args.download && !shards) process.stderr.write(`downloading CIFAR-10 into ${args.data ?? 'data'} (if not there yet) ...\n`);
  const ds = shards ? undefined : await openClassificationDataset(kind, { data: args.data, split: args.split ?? 'test', download: args.download, onWarning: (s) => process.stderr.write(`warning: ${s}\n`), onProgress: downloadProgress() });
  const builtin = builtinZeroShotSet(kind, lang);
  const classnames = args.classnames ? loadClassnames(args.classnames, kind) : builtin.classnames ?? ds?.classNames ?? shardClassNamesOrFail(shards!, lang);
  if (ds && classnames.length !== ds.classNames.length) throw new Error(`${classnames.length} class names but the dataset has ${ds.classNames.length} classes`);
  const templates = args.templates ? loadTemplates(args.templates, kind) : builtin.templates;
  const stream = shards ? await zeroShotShards(shards, args, classnames.length) : undefined;
  return { kind, lang, ds, stream, classnames, templates, size: ds?.size ?? stream!.size };
}

export async function runZeroShot(args: ZeroShotArgs, backend?: string, log: (s: string) => void = console.log) {
  if (args.out) assertOutput(args.out, 'file', '--out');
  const shard = evalShard(args);
  const { kind, lang, ds, stream, classnames, templates, size } = await zeroShotInput(args);
  const split = args.split ?? 'test';
  const batchSize = args.batchSize ?? 32;
  const n = Math.min(size, args.limit ?? Infinity);
  const [lo, hi] = shardWindow(n, shard, batchSize);
  const opened = await openModel(args.model!, backend, args.precision);
  const bundle = opened.bundle;
  try {
    const unknown = unknownTextWarning();
    const evaluate = () => evaluateZeroShot({ ...bundle, dataset: ds ?? stream!, classnames, templates, batchSize, start: lo, limit: hi - lo, skipErrors: args.skipErrors, keepLogits: !!shard, onProgress: progressLogger('zeroshot'), onUnknownOnly: unknown.onUnknownOnly });
    const r = hi > lo ? await opened.precision.autocast(evaluate) : undefined; // a shard's window can be empty (more shards than batches)
    unknown.flush();
    reportShards(stream);
    const metrics = r ? zeroShotMetricsJson(r.metrics) : { acc1: null, acc5: null, mean_per_class_recall: null };
    const settings = {
      model: path.resolve(bundle.dir!),
      data: args.data ? resolvedData(args.data) : null,
      split: stream ? null : split,
      lang,
      precision: opened.precision.name,
      n_images: r?.n ?? 0,
      skipped_images: r?.skipped.length ?? 0,
      limit: args.limit ?? null,
      batch_size: batchSize,
      classnames,
      templates,
      logit_scale: 100,
      tie_rule: 'top-k ties: lower class index first; recall uses argmax (first maximum)',
      backend: opened.backend,
      seconds: +(r?.seconds ?? 0).toFixed(2),
      images_per_second: +(r?.imagesPerSecond ?? 0).toFixed(2),
    };
    const result = { dataset: kind, metrics, settings };
    const what = `${stream ? `${stream.shards} shard(s)` : `${split} split`}, ${r?.n ?? 0} images, ${templates.length} templates, lang ${lang}`;
    if (shard) {
      const rows = { n: r?.n ?? 0, logits: r?.logits, labels: r?.labels, skipped: r?.skipped.length ?? 0, seconds: r?.seconds ?? 0, imageSeconds: r ? r.n / r.imagesPerSecond : 0 };
      await writeZeroShotPart(args.out!, shard, [lo, hi], n, result, classnames.length, rows);
      log(`\nzero-shot ${kind}, shard ${shard.index}/${shard.count}: positions [${lo}, ${hi}) of ${n} (${what}); ${partNote(args.out!, shard)}`);
      return result;
    }
    log(`\nzero-shot ${kind} (${what})`);
    log(zeroShotTable(metrics));
    log(`${r!.imagesPerSecond.toFixed(1)} images/s, ${r!.seconds.toFixed(1)}s in all${r!.skipped.length ? `; ${r!.skipped.length} ${stream ? 'samples' : 'unreadable images'} skipped (first: ${r!.skipped[0].error})` : ''}`);
    if (kind === 'cifar10' && split === 'test') log("note: BAAI's README figure for CIFAR-10 (acc1 0.954) was measured on the train split (--split train)");
    if (args.out) {
      await writeJson(args.out, result);
      log(`results written to ${args.out}`);
    }
    return result;
  } finally {
    bundle.dispose();
    ds?.close?.();
  }
}

export async function runRetrieval(args: RetrievalArgs, backend?: string, log: (s: string) => void = console.log) {
  const batchSize = args.batchSize ?? 32;
  if (args.out) assertOutput(args.out, 'file', '--out');
  const shard = evalShard(args);
  const shards = evalShardSpec(args.data, args.datasetType);
  const stream = shards ? await retrievalShards(shards, args) : undefined;
  const ds = stream ?? (await readRetrievalDataset(args.data!, { format: args.format, root: args.root, split: args.split ?? 'test' }));
  if (!stream && ds.report.skipped) process.stderr.write(formatReport(ds.report) + '\n');
  const n = Math.min(stream ? stream.size : (ds as RetrievalDataset).images.length, args.limit ?? Infinity);
  const [lo, hi] = shardWindow(n, shard, batchSize);
  const opened = await openModel(args.model!, backend, args.precision);
  const bundle = opened.bundle;
  try {
    const unknown = unknownTextWarning();
    const evaluate = () => evaluateRetrieval({ ...bundle, dataset: ds, batchSize, start: lo, limit: hi - lo, keepEmbeddings: !!shard, onProgress: progressLogger('retrieval'), onUnknownOnly: unknown.onUnknownOnly });
    const r = hi > lo ? await opened.precision.autocast(evaluate) : undefined; // a shard's window can be empty (more shards than batches)
    unknown.flush();
    reportShards(stream);
    const settings = {
      model: path.resolve(bundle.dir!),
      data: resolvedData(args.data!),
      root: args.root ?? null,
      n_images: r?.nImages ?? 0,
      n_texts: r?.nTexts ?? 0,
      skipped_images: r?.skipped.length ?? 0,
      limit: args.limit ?? null,
      batch_size: batchSize,
      backend: opened.backend,
      seconds: +(r?.seconds ?? 0).toFixed(2),
      images_per_second: +(r?.imagesPerSecond ?? 0).toFixed(2),
      texts_per_second: +(r?.textsPerSecond ?? 0).toFixed(2),
    };
    const result = { dataset: ds.name, metrics: r ? retrievalResultMetrics(r.metrics) : {}, settings };
    if (shard) {
      const e = r?.embeddings;
      const rows = { image: e?.image ?? new Float32Array(0), text: e?.text ?? new Float32Array(0), dim: e?.dim ?? 0, textToImage: e?.textToImage ?? new Int32Array(0), skipped: r?.skipped.length ?? 0, imageSeconds: r ? r.nImages / r.imagesPerSecond : 0, textSeconds: r ? r.nTexts / r.textsPerSecond : 0 };
      await writeRetrievalPart(args.out!, shard, [lo, hi], n, result, rows);
      log(`\nretrieval ${ds.name}, shard ${shard.index}/${shard.count}: positions [${lo}, ${hi}) of ${n} (${r?.nImages ?? 0} images, ${r?.nTexts ?? 0} captions); ${partNote(args.out!, shard)}`);
      return result;
    }
    log(`\nretrieval ${ds.name} (${r!.nImages} images, ${r!.nTexts} captions)`);
    log(retrievalTable(r!.metrics, `   (${r!.imagesPerSecond.toFixed(1)} images/s, ${r!.textsPerSecond.toFixed(1)} texts/s)`));
    if (args.out) {
      await writeJson(args.out, result);
      log(`results written to ${args.out}`);
    }
    return result;
  } finally {
    bundle.dispose();
  }
}

export const evalCommand: CommandModule = {
  command: 'eval',
  describe: 'Zero-shot classification (CIFAR-10, Fashion-MNIST, image folders) or image-text retrieval',
  builder: (y) =>
    y
      .command({
        command: 'zeroshot',
        describe: 'Zero-shot classification accuracy (acc1, acc5, mean per-class recall)',
        builder: (yy) => withOptions(yy, 'eval zeroshot'),
        handler: async (a) => {
          await runZeroShot(optionsFromArgv('eval zeroshot', a), backendOf(a));
        },
      })
      .command({
        command: 'retrieval',
        describe: 'Image<->text retrieval recall@1/5/10 and MR',
        builder: (yy) => withOptions(yy, 'eval retrieval'),
        handler: async (a) => {
          await runRetrieval(optionsFromArgv('eval retrieval', a), backendOf(a));
        },
      })
      .demandCommand(1, 'Pick zeroshot or retrieval.'),
  handler: () => undefined,
};
