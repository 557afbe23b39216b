/**
 * Every option of every `altclip` command, once: its key (as in config files and library calls), type, rule or
 * choices, help text, default and the commands that take it. The order here is the order `--help` lists them.
 * Commands, config-file checks and the option types of the stages are all derived from this table.
 */
import { DATASET_NAMES } from '@altclip/data';
import { DEFAULT_MAX_IMAGE_PIXELS } from '@altclip/image';
import { LANGS } from '@altclip/eval';
import { FROZEN_DTYPES, PRECISION_NAMES } from '@altclip/models';
import { SCHEDULES } from '../schedules';
import { CONTRASTIVE_LOSS_NAMES, DISTILLATION_LOSS_NAMES } from '../losses';
import { Command, option, OptionsFrom, OptionSpec, ValueOf } from './define';

const UINT32_MAX = 2 ** 32 - 1;
export const TRAIN_COMMANDS = ['distill', 'contrastive', 'finetune'] as const;
const TRAIN = TRAIN_COMMANDS;
const LOCKS = ['contrastive', 'finetune'] as const;
const EVAL = ['eval zeroshot', 'eval retrieval'] as const;
const ZS = ['eval zeroshot', 'finetune'] as const;

const SHARD_HELP =
  'job arrays: evaluate shard i of N of the images into <out>.shard-i-of-N (i/N; N alone or nothing: from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID/MIN/COUNT); then altclip merge <parts> --out <out>';

/** AdamW betas: two numbers in [0, 1). */
export function checkBetas(v: unknown): string | undefined {
  const ok = Array.isArray(v) && v.length === 2 && v.every((b) => typeof b === 'number' && Number.isFinite(b) && b >= 0 && b < 1);
  return ok ? undefined : 'must be two numbers in [0, 1), e.g. 0.9 0.999';
}

export const OPTIONS = [
  // Every command.
  option({ key: 'backend', type: 'string', commands: ['*'], choices: ['auto', 'tensorflow', 'native', 'wasm', 'cpu'], help: 'TensorFlow.js backend (default: best available; env ALTCLIP_BACKEND)' }),
  option({ key: 'revision', type: 'string', commands: ['*'], help: 'branch, tag or commit of the Hugging Face hub ids named (default main)' }),
  option({ key: 'offline', type: 'boolean', commands: ['*'], help: 'use only the Hugging Face cache, no downloads (same as HF_HUB_OFFLINE=1)' }),
  option({
    key: 'maxPixels', type: 'number', commands: ['*'], rule: { int: true, min: 0 },
    help: `refuse images with more pixels than this, before decoding (decompression bombs; default ${DEFAULT_MAX_IMAGE_PIXELS}, twice Pillow's MAX_IMAGE_PIXELS; 0: no limit)`,
  }),
  option({ key: 'allowNonfinite', type: 'boolean', commands: ['*'], help: 'load model weights that hold NaN/Inf (refused by default)' }),

  // The training stages: the run.
  option({ key: 'config', type: 'string', commands: TRAIN, flagOnly: true, help: 'JSON file with any of these options (flags override it); see configs/train/' }),
  option({ key: 'out', type: 'string', commands: TRAIN, help: 'run folder (default runs/<name> or runs/<stage>-<time>)' }),
  option({ key: 'name', type: 'string', commands: TRAIN, help: 'run name: the run folder is runs/<name>' }),
  option({ key: 'resume', type: 'string', commands: TRAIN, help: "continue a run: 'latest' (with --out/--name), a run folder or a checkpoint folder" }),
  option({ key: 'seed', trainer: true, type: 'number', commands: TRAIN, rule: { int: true, min: 0, max: UINT32_MAX }, help: 'seed of initialisation, data order and dropout' }),
  // The optimisation.
  option({ key: 'batchSize', trainer: true, type: 'number', commands: TRAIN, rule: { int: true, min: 1 }, help: 'samples per optimizer step (global batch)' }),
  option({ key: 'accumSteps', trainer: true, type: 'number', commands: TRAIN, rule: { int: true, min: 1 }, help: 'micro-batches per step (contrastive-aware gradient accumulation)' }),
  option({ key: 'epochs', trainer: true, type: 'number', commands: TRAIN, rule: { gt: 0 }, help: 'passes over the training data (fractions allowed; with --steps: whichever ends first)' }),
  option({ key: 'steps', trainer: true, type: 'number', commands: TRAIN, rule: { int: true, min: 1 }, help: 'optimizer steps (with --epochs: whichever ends first)' }),
  option({ key: 'lr', trainer: true, type: 'number', commands: TRAIN, rule: { min: 0 }, help: 'peak learning rate' }),
  option({ key: 'schedule', trainer: true, type: 'string', commands: TRAIN, choices: SCHEDULES }),
  option({
    key: 'warmup', trainer: true, type: 'number', commands: TRAIN, help: 'warmup steps, or a fraction of all steps when < 1',
    rule: { min: 0, extra: (v) => (v >= 1 && !Number.isInteger(v) ? 'a whole number of steps when >= 1 (below 1 it is a fraction of the run)' : undefined) },
  }),
  option({ key: 'minLr', trainer: true, type: 'number', commands: TRAIN, rule: { min: 0 }, help: 'learning rate the cosine or linear decay ends at (default 0)' }),
  option({ key: 'betas', trainer: true, type: 'numbers', commands: TRAIN, check: checkBetas, help: 'AdamW betas, e.g. --betas 0.9 0.98' }),
  option({ key: 'eps', trainer: true, type: 'number', commands: TRAIN, rule: { gt: 0 }, help: 'AdamW epsilon (default 1e-8)' }),
  option({ key: 'weightDecay', trainer: true, type: 'number', commands: TRAIN, rule: { min: 0 }, help: 'decoupled weight decay (biases, LayerNorm weights, logit_scale excluded)' }),
  option({ key: 'gradClip', trainer: true, type: 'number', commands: TRAIN, rule: { min: 0 }, help: 'max global gradient norm (0: off)' }),
  option({ key: 'shuffle', trainer: true, type: 'boolean', commands: TRAIN, help: 'a new sample order every epoch (default true; --no-shuffle: the order of the data)' }),
  option({ key: 'dropLast', trainer: true, type: 'boolean', commands: TRAIN, noFlag: true, help: 'drop the last incomplete batch of each epoch (default false, as FlagAI)' }),
  option({ key: 'noDecay', trainer: true, type: 'strings', commands: TRAIN, noFlag: true, check: regexProblem, help: 'regexes of keys without weight decay (default: biases, LayerNorm weights, logit_scale)' }),
  option({ key: 'logitScaleMax', trainer: true, type: 'number', commands: TRAIN, noFlag: true, rule: { gt: 0 }, help: 'logit_scale is clamped to [0, this] after each step (default ln 100)' }),
  // Logging and checkpoints.
  option({ key: 'logEvery', trainer: true, type: 'number', commands: TRAIN, rule: { int: true, min: 0 }, help: 'steps between lines in metrics.jsonl and the progress display (default 10)' }),
  option({ key: 'logger', trainer: true, type: 'string', commands: TRAIN, help: "also log to 'tensorboard' (<run>/tensorboard/; e.g. --logger jsonl,tensorboard); metrics.jsonl is always written" }),
  option({ key: 'checkpointEvery', trainer: true, type: 'number', commands: TRAIN, rule: { int: true, min: 0 }, help: 'steps between checkpoints (0: only at the end and on a signal)' }),
  option({ key: 'keepLast', trainer: true, type: 'number', commands: TRAIN, rule: { int: true, min: 0 }, help: 'checkpoints kept' }),
  option({ key: 'evalEvery', trainer: true, type: 'number', commands: TRAIN, rule: { int: true, min: 0 }, help: 'steps between zero-shot evaluations with --eval-dataset (0: only at the end)' }),
  // The model while it trains.
  option({ key: 'maxLength', type: 'number', commands: TRAIN, rule: { int: true, min: 2 }, help: 'text tokens per caption' }),
  option({ key: 'dropout', type: 'boolean', commands: TRAIN, help: 'text dropout while training (default on)' }),
  option({ key: 'gradCheckpointing', type: 'boolean', commands: TRAIN, help: 'recompute each layer in the backward pass instead of keeping its activations (less memory, ~1/3 more compute)' }),
  option({
    key: 'precision', type: 'string', commands: [...TRAIN, 'eval zeroshot', 'eval retrieval', 'predict', 'embed', 'demo'], choices: PRECISION_NAMES,
    help: "how matmuls compute (open_clip's names): fp32 (default), amp_bf16 (bf16 products, float32 weights, optimizer and norms), bf16 (amp_bf16, frozen weights stored in bf16); bf16 needs AVX512_BF16 and the native backend, else fp32 (logged)",
  }),
  option({
    key: 'frozenDtype', type: 'string', commands: TRAIN, choices: ['f32', ...FROZEN_DTYPES] as const,
    help: 'storage of frozen parameters (a locked tower): bf16/f16 halve their memory, compute stays f32 (default f32, exact)',
  }),
  // Data parallelism under mpirun/srun (docs/data-parallel.md); rank and world size come from MPI.
  option({ key: 'localLoss', type: 'boolean', commands: LOCKS, help: "under mpirun: each rank's rows against the global batch instead of the whole B x B loss on every rank (open_clip's --local-loss; same gradient, less memory)" }),
  option({ key: 'shardOptimizer', type: 'boolean', commands: TRAIN, help: 'under mpirun: ZeRO stage 1, each rank keeps 1/N of the AdamW moments (same results; checkpoints resume on any number of ranks)' }),
  option({ key: 'freezeEmbeddings', type: 'boolean', commands: TRAIN, help: 'freeze every embedding table (word, position, token type, patch, class)' }),
  option({ key: 'unlockedTextLayers', type: 'number', commands: TRAIN, rule: { int: true, min: 0 }, help: 'with --lock-text: last N text layers stay trainable' }),
  option({ key: 'unlockedImageLayers', type: 'number', commands: TRAIN, rule: { int: true, min: 0 }, help: 'with --lock-image: last N vision layers stay trainable' }),
  // Zero-shot evaluation while training.
  option({ key: 'evalDataset', type: 'string', commands: TRAIN, choices: DATASET_NAMES, help: 'zero-shot evaluation every --eval-every steps and at the end (logged to metrics.jsonl)' }),
  option({ key: 'evalData', type: 'string', commands: TRAIN, help: 'folder of the evaluation dataset' }),
  option({ key: 'evalSplit', type: 'string', commands: TRAIN, choices: ['train', 'test'] as const, help: 'default test' }),
  option({ key: 'evalLang', type: 'string', commands: TRAIN, choices: LANGS, help: 'class names/templates language (default en)' }),
  option({ key: 'evalLimit', type: 'number', commands: TRAIN, rule: { int: true, min: 1 }, help: 'evaluate on the first N images only' }),
  option({
    key: 'progress', type: 'boolean', commands: TRAIN, flagOnly: true, default: true, help: 'progress bar on a terminal (--no-progress: plain "step N/M" lines instead)',
    // Library callers also pass 'plain' (what --no-progress means) or false (nothing at all).
    check: (v) => (typeof v === 'boolean' || v === 'plain' ? undefined : "must be true, false or 'plain'"),
  }),
  // Which parameters train (distill fixes them).
  option({
    key: 'lockImage', type: 'boolean', commands: LOCKS,
    help: {
      contrastive: 'freeze the vision tower (default true; --lock-image false trains it, e.g. a CLIP from scratch)',
      finetune: 'freeze the vision tower (default true; false with --preset flagai)',
    },
  }),
  option({ key: 'lockText', type: 'boolean', commands: LOCKS, help: 'freeze the text tower and text_projection (default false)' }),
  option({ key: 'freeze', type: 'strings', commands: LOCKS, help: 'regexes of parameter keys to freeze', check: regexProblem }),
  option({ key: 'unfreeze', type: 'strings', commands: LOCKS, noFlag: true, check: regexProblem, help: 'regexes of keys that train even when another rule freezes them' }),

  // The model and the data of the inference commands and the stages.
  option({
    key: 'model', type: 'string', hubId: true, commands: [...EVAL, 'predict', 'embed', 'contrastive', 'finetune'], required: [...EVAL, 'predict', 'embed'],
    help: {
      'eval zeroshot': 'model folder (config.json + weights + tokenizer) or hub id (e.g. BAAI/AltCLIP)',
      'eval retrieval': 'model folder (config.json + weights + tokenizer) or hub id (e.g. BAAI/AltCLIP)',
      predict: 'model folder or hub id (e.g. BAAI/AltCLIP)',
      embed: 'model folder or hub id (e.g. BAAI/AltCLIP)',
      contrastive: 'AltCLIP or CLIP folder or hub id, or a named config (configs/models) to train from scratch',
      finetune: 'AltCLIP or CLIP folder, or hub id',
    },
  }),
  option({ key: 'image', type: 'strings', commands: ['predict'], required: ['predict'], help: 'image file (repeatable)' }),
  option({ key: 'text', type: 'strings', commands: ['predict'], required: ['predict'], help: 'candidate text (repeatable), e.g. --text "一只猫" --text "a dog"' }),
  option({ key: 'json', type: 'boolean', commands: ['predict', 'info'], help: 'print JSON' }),
  option({ key: 'images', type: 'string', commands: ['embed'], help: 'image folder (recursive) or a list file with one path per line' }),
  option({ key: 'texts', type: 'string', commands: ['embed'], help: 'text file, one text per line (or .jsonl with "text")' }),
  option({ key: 'out', type: 'string', commands: ['embed'], required: ['embed'], help: 'output FILE.safetensors (index: FILE.index.json)' }),
  option({
    key: 'limit', type: 'number', commands: [...EVAL, 'finetune'], rule: { int: true, min: 1 },
    help: { 'eval zeroshot': 'evaluate only the first N images', 'eval retrieval': 'evaluate only the first N images', finetune: 'train on the first N images' },
  }),
  option({
    key: 'batchSize', type: 'number', commands: [...EVAL, 'embed'], rule: { int: true, min: 1 }, default: 32,
    help: { 'eval zeroshot': 'images per forward pass', 'eval retrieval': 'images per forward pass' },
  }),
  option({ key: 'raw', type: 'boolean', commands: ['embed'], help: 'store raw features instead of L2-normalised ones' }),
  option({ key: 'out', type: 'string', commands: EVAL, help: 'write the results JSON here' }),
  option({ key: 'teacher', type: 'string', hubId: true, commands: ['distill'], help: 'CLIP folder or hub id (CLIPTextModelWithProjection or full CLIPModel)' }),
  option({ key: 'student', type: 'string', hubId: true, commands: ['distill'], help: 'AltCLIP folder, xlm-roberta folder (with --vision), hub id of either, or a named config / config.json' }),
  option({ key: 'studentConfig', type: 'string', commands: ['distill'], help: 'AltCLIP config (named or a file) for the student' }),
  option({ key: 'vision', type: 'string', hubId: true, commands: ['distill'], help: 'CLIP folder or hub id for vision tower + visual_projection + logit_scale (default: the teacher when it is a CLIPModel)' }),
  option({ key: 'dataset', type: 'string', commands: ZS, choices: DATASET_NAMES, default: 'cifar10', help: { 'eval zeroshot': 'dataset kind' } }),
  option({
    key: 'data', type: 'string', commands: ['eval zeroshot', 'eval retrieval', 'distill', 'contrastive', 'finetune'], required: ['eval retrieval'],
    help: {
      'eval zeroshot': "dataset location (CIFAR-10 binary folder, IDX folder, class-per-subfolder folder), or WebDataset shards ('shards/{00000..00009}.tar')",
      'eval retrieval': "captions file: Karpathy JSON, Flickr30k-CN/COCO-CN txt, JSONL or CSV; or WebDataset shards ('shards/{00000..00009}.tar')",
      distill: 'parallel corpus: TSV en<TAB>zh or JSONL',
      contrastive: 'pairs file (CSV/TSV/JSONL: image, caption[, lang]) or a folder with captions.jsonl|tsv|csv',
      finetune: 'dataset folder (CIFAR-10 .bin files, IDX files, or class folders)',
    },
  }),
  option({ key: 'format', type: 'string', commands: ['eval retrieval'], choices: ['karpathy', 'cn', 'jsonl', 'csv', 'tsv'] as const, help: 'file format (default: from the file)' }),
  option({ key: 'root', type: 'string', commands: ['eval retrieval'], help: "image folder (default: the captions file's folder)" }),
  option({ key: 'split', type: 'string', commands: ['eval retrieval'], default: 'test', help: 'Karpathy split' }),
  option({
    key: 'split', type: 'string', commands: ZS, choices: ['train', 'test'] as const, default: { 'eval zeroshot': 'test' },
    help: { 'eval zeroshot': "split (BAAI's README figure for CIFAR-10 is on train)", finetune: 'default train' },
  }),
  option({
    key: 'lang', type: 'string', commands: ZS, choices: LANGS, default: { 'eval zeroshot': 'en' },
    help: { 'eval zeroshot': 'built-in class names and templates language', finetune: 'caption language (default en)' },
  }),
  option({
    key: 'templates', type: 'string', commands: ZS,
    help: {
      'eval zeroshot': 'templates JSON file or a built-in set (cifar10-en, cifar10-zh, imagenet-zh, demo-heldout-en, demo-heldout-zh, ...)',
      finetune: "template set name or JSON file ('{c}' = class name)",
    },
  }),
  option({ key: 'classnames', type: 'string', commands: ZS, help: { 'eval zeroshot': 'class names JSON file (shards: default the classnames.txt beside them)', finetune: 'class names file (JSON array or one per line)' } }),
  option({ key: 'skipErrors', type: 'boolean', commands: ['eval zeroshot'], help: 'skip unreadable images (counted) instead of failing' }),
  option({
    key: 'download', type: 'boolean', commands: ZS,
    help: { 'eval zeroshot': 'cifar10: download the binary archive (md5-checked) into --data (default ./data) first', finetune: 'download CIFAR-10 (md5 checked) into --data if missing' },
  }),
  option({ key: 'preset', type: 'string', commands: ['finetune'], choices: ['flagai', 'default'] as const, help: "flagai: FlagAI's AltCLIP fine-tuning example as written (batch 4, lr 1e-4, 10 epochs, AnnealingLR, all parameters)" }),
  option({ key: 'teacherField', type: 'string', commands: ['distill'], help: 'JSONL field / TSV column of the English side (default en / 0)' }),
  option({ key: 'studentField', type: 'string', commands: ['distill'], help: 'JSONL field / TSV column of the other side (default zh / 1)' }),
  option({ key: 'enEn', type: 'boolean', commands: ['distill'], help: 'also train (en, en) pairs (default true; essential per the paper)' }),
  option({
    key: 'tokenizer', type: 'string', hubId: true, commands: TRAIN,
    help: {
      distill: 'student SentencePiece folder or hub id (default: the student folder)',
      contrastive: 'tokenizer folder or hub id (default: the model folder; CLIP configs: the shipped BPE)',
      finetune: 'tokenizer folder or hub id (default: the model folder)',
    },
  }),
  option({ key: 'teacherTokenizer', type: 'string', hubId: true, commands: ['distill'], help: 'teacher tokenizer folder or hub id (default: the teacher folder / shipped CLIP BPE)' }),
  option({ key: 'target', type: 'string', commands: ['distill'], choices: ['pooled', 'projected'] as const, help: 'teacher feature: pooled EOS before (default) or after text_projection' }),
  option({ key: 'cacheDir', type: 'string', commands: ['distill'], help: 'teacher feature cache (default: <run folder>/../.cache)' }),
  option({ key: 'teacherMaxLength', type: 'number', commands: ['distill'], rule: { int: true, min: 2 }, help: "teacher tokens per text (default: the teacher's max_position_embeddings, 77 for CLIP)" }),
  option({ key: 'imageRoot', type: 'string', commands: ['contrastive'], help: 'image paths are relative to this folder (default: the data file folder)' }),
  option({ key: 'captionColumn', type: 'string', commands: ['contrastive'], help: 'column (or JSON field) of the captions (default: the first of caption, text, title, sentence, raw, or column 1)' }),
  option({ key: 'imageColumn', type: 'string', commands: ['contrastive'], help: 'column (or JSON field) of the image paths (default: the first of image, filepath, file, path, img, image_path, filename, url, or column 0)' }),
  option({ key: 'freezeLogitScale', type: 'boolean', commands: ['contrastive'], help: 'keep the temperature (logit_scale) as loaded instead of training it' }),
  option({ key: 'loss', type: 'string', commands: LOCKS, choices: CONTRASTIVE_LOSS_NAMES, help: 'contrastive loss (clip: the symmetric cross-entropy of HF clip_loss)' }),
  option({ key: 'loss', type: 'string', commands: ['distill'], choices: DISTILLATION_LOSS_NAMES, help: "distillation loss (mse: the paper's, student feature against the teacher's)" }),

  // Data at scale: WebDataset shards and streamed corpora (docs/data.md).
  option({
    key: 'datasetType', type: 'string', commands: ['contrastive'], choices: ['auto', 'webdataset', 'pairs'] as const,
    help: "webdataset: --data is a shard list ('shards/{00000..00999}.tar', several joined with '::', .tar or .tar.gz); auto (default): from the name",
  }),
  option({
    key: 'datasetType', type: 'string', commands: ['finetune', 'eval zeroshot', 'eval retrieval'], choices: ['auto', 'webdataset'] as const,
    help: {
      finetune: 'webdataset: --data is a shard list whose samples hold an image and a .cls (or --label-key); auto (default): from the name',
      'eval zeroshot': 'webdataset: --data is a shard list whose samples hold an image and a .cls (or --label-key), read once in order; auto (default): from the name',
      'eval retrieval': 'webdataset: --data is a shard list whose samples hold an image and a caption (.txt, or --caption-key/--caption-lang); auto (default): from the name',
    },
  }),
  option({
    key: 'datasetType', type: 'string', commands: ['distill'], choices: ['auto', 'stream', 'memory'] as const,
    help: 'stream: read the corpus in blocks, never whole; auto (default): stream for several files, globs, .gz, stream options or a corpus over 256 MiB',
  }),
  option({ key: 'shuffleBuffer', type: 'number', commands: TRAIN, rule: { int: true, min: 0 }, help: 'streamed data: samples held for mixing (default 1000; 0: file order)' }),
  option({ key: 'trainNumSamples', type: 'number', commands: TRAIN, rule: { int: true, min: 1 }, help: 'streamed data: samples per epoch across all processes (default: one pass)' }),
  option({ key: 'datasetResampled', type: 'boolean', commands: TRAIN, help: "streamed data: draw shards with replacement (open_clip's virtual epochs of --train-num-samples)" }),
  option({ key: 'workers', type: 'number', commands: LOCKS, rule: { int: true, min: 0 }, help: 'image decoding threads (default: the CPUs)' }),
  option({ key: 'captionKey', type: 'string', commands: ['contrastive', 'eval retrieval'], help: "WebDataset caption member: 'txt' (default), 'zh.txt', or 'json:<field>'" }),
  option({ key: 'captionLang', type: 'string', commands: ['contrastive', 'eval retrieval'], help: "WebDataset caption language: 'zh' reads the .zh.txt member" }),
  option({ key: 'labelKey', type: 'string', commands: ['finetune', 'eval zeroshot'], help: "WebDataset class member: 'cls' (default) or 'json:<field>'" }),
  option({ key: 'teacherCacheDtype', type: 'string', commands: ['distill'], choices: ['f32', 'f16'] as const, help: 'teacher feature cache storage (f16: half the disk, features rounded to half precision)' }),
  option({ key: 'teacherCacheRows', type: 'number', commands: ['distill'], rule: { int: true, min: 1 }, help: 'rows per teacher cache part (default 65536)' }),
  option({ key: 'cacheTeacherOnly', type: 'boolean', commands: ['distill'], help: 'compute (or complete) the teacher feature cache and stop, without training' }),
  option({
    key: 'shard', type: 'string', commands: ['distill', ...EVAL, 'embed'],
    help: {
      distill: 'job arrays, with --cache-teacher-only: compute shard i of N of the teacher cache (i/N; N alone or nothing: from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID/MIN/COUNT); then altclip merge <cache folder>',
      'eval zeroshot': SHARD_HELP,
      'eval retrieval': SHARD_HELP,
      embed: 'job arrays: embed shard i of N of the images and of the texts into <out>.shard-i-of-N (i/N; N alone or nothing: from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID/MIN/COUNT); then altclip merge <parts> --out <out>',
    },
  }),

  // The other commands.
  option({ key: 'in', type: 'string', hubId: true, commands: ['convert'], required: ['convert'], help: 'checkpoint file, *.index.json, model folder or hub id (org/name)' }),
  option({ key: 'out', type: 'string', commands: ['convert'], required: ['convert'], help: 'output .safetensors file, or folder (folder input: config/tokenizer files are copied)' }),
  option({ key: 'dtype', type: 'string', commands: ['convert'], choices: ['f32', 'f16', 'bf16'] as const, default: 'f32', help: 'dtype of floating-point tensors in the output' }),
  option({ key: 'out', type: 'string', commands: ['demo'], help: 'output folder (default runs/demo-<timestamp>)' }),
  option({ key: 'fast', type: 'boolean', commands: ['demo'], help: 'smaller data, fewer steps: under a minute on 2 CPU cores with the native addon (7 without), vs about 1.5 for the full demo' }),
  option({ key: 'resume', type: 'boolean', commands: ['demo'], help: 'continue a demo run: skip finished stages, resume an interrupted one (default folder: the newest runs/demo-*)' }),
  option({ key: 'fashionMnist', type: 'string', commands: ['demo'], help: 'folder with the Fashion-MNIST IDX files (default: $FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist, datasets/fashion-mnist)' }),
  option({ key: 'run', type: 'string', commands: ['report'], positional: true, required: ['report'], help: 'run folder (holds config.json and metrics.jsonl)' }),
  option({ key: 'out', type: 'string', commands: ['report'], help: 'HTML file to write (default <run>/report.html)' }),
  option({ key: 'from', type: 'string', commands: ['shards'], required: ['shards'], help: 'pairs file (CSV/TSV/JSONL: image, caption[, lang]), a folder of images with .txt captions, or a folder of class folders' }),
  option({ key: 'out', type: 'string', commands: ['shards'], required: ['shards'], help: 'folder for the shards (00000.tar, ...; sizes.json, classnames.txt for class folders)' }),
  option({ key: 'perShard', type: 'number', commands: ['shards'], rule: { int: true, min: 1 }, default: 10000, help: 'samples per shard' }),
  option({ key: 'gzip', type: 'boolean', commands: ['shards'], help: 'write .tar.gz shards (smaller; plain .tar reads faster)' }),
  option({
    key: 'parts', type: 'strings', commands: ['merge'], positional: true, required: ['merge'],
    help: 'what a job array wrote: the part files of eval zeroshot|retrieval or embed --shard i/N, or teacher-cache folders (distill --cache-teacher-only --shard i/N)',
  }),
  option({ key: 'out', type: 'string', commands: ['merge'], help: 'eval/embed parts: the file the unsharded run writes with --out (results JSON, or FILE.safetensors + FILE.index.json)' }),
  option({ key: 'imageRoot', type: 'string', commands: ['shards'], help: 'image paths of a pairs file are relative to this folder (default: the file folder)' }),
] as const;

/** What is wrong with a list of regular expressions (the first that does not compile), or undefined. */
function regexProblem(v: unknown): string | undefined {
  if (!Array.isArray(v)) return 'must be a list of regular expressions, e.g. ["token_embedding"]';
  for (const p of v) {
    if (p instanceof RegExp) continue;
    if (typeof p !== 'string') return 'must be regular expressions (strings)';
    try {
      new RegExp(p);
    } catch (e) {
      return `must be regular expressions that compile ('${p}': ${(e as Error).message.replace(/^Invalid regular expression: /, '')})`;
    }
  }
  return undefined;
}

/** The options of one command, each optional, typed from the table. */
export type OptionsOf<C extends Command> = OptionsFrom<typeof OPTIONS, C>;

/** The descriptions of the options `command` takes, in table order (the '*' ones excluded). */
export function optionsOf(command: Command): OptionSpec[] {
  return (OPTIONS as readonly OptionSpec[]).filter((o) => o.commands.includes(command));
}

type TrainerSpec = Extract<(typeof OPTIONS)[number], { trainer: true }>;
/** The keys of the trainer's configuration, as the schema marks them. */
export type TrainerKey = TrainerSpec['key'];
export const TRAINER_KEYS: TrainerKey[] = OPTIONS.filter((o): o is TrainerSpec => 'trainer' in o && o.trainer === true).map((o) => o.key);

/**
 * Rules between options, checked with the rules of each (after a stage's defaults are applied, so a value is judged
 * against what the run will use): what is wrong, or undefined.
 */
export const RELATIONS: Array<(o: { lr?: number; minLr?: number; evalDataset?: unknown; evalData?: string }) => string | undefined> = [
  (o) =>
    o.minLr !== undefined && o.lr !== undefined && o.minLr > o.lr ? `--min-lr (${o.minLr}) is above --lr (${o.lr}): the schedule would rise after warmup instead of decaying` : undefined,
  (o) => (o.evalData !== undefined && o.evalDataset === undefined ? `--eval-data ${o.evalData} is given without --eval-dataset (${DATASET_NAMES.join(', ')})` : undefined),
  (o) =>
    typeof o.evalDataset === 'string' && o.evalDataset !== 'fashion-mnist' && o.evalData === undefined
      ? `--eval-dataset ${o.evalDataset} needs --eval-data <folder> (only fashion-mnist has a default location)`
      : undefined,
];

type TakesAll<S, Cs extends readonly Command[]> = S extends { commands: readonly (infer X)[] } ? (Cs[number] extends X ? S : never) : never;
type EveryStageSpec = TakesAll<(typeof OPTIONS)[number], typeof TRAIN_COMMANDS>;
/** The options every training stage takes with one description (declared for all three at once). */
export type EveryStageOptions = { [S in EveryStageSpec as S['key']]?: ValueOf<S> };
