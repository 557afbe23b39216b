/**
 * The classification datasets every command and stage opens by name (`--dataset`, `--eval-dataset`): one registry,
 * so the choice list, the aliases and the way each is opened exist once.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readCifar10 } from './cifar10';
import { downloadCifar10 } from './download';
import { MNIST_CLASSES, readFashionMnist, readIdx } from './idx';
import { readImageFolder } from './imagefolder';
import type { ClassificationDataset } from './types';

export type Split = 'train' | 'test';

export interface OpenDatasetOptions {
  /** The dataset's folder (see each entry's `data`). */
  data?: string;
  split: Split;
  /** cifar10: download the binary archive (md5-checked) into `data` (default ./data) first. */
  download?: boolean;
  onWarning?: (message: string) => void;
  /** Download progress in bytes. */
  onProgress?: (done: number, total: number) => void;
}

export interface DatasetEntry {
  /** What `data` must hold, for help texts and errors. */
  data: string;
  aliases?: string[];
  open(o: OpenDatasetOptions): Promise<ClassificationDataset>;
}

function need(kind: string, o: OpenDatasetOptions, what: string): string {
  if (!o.data) throw new Error(`--data is required for ${kind}: ${what}`);
  return o.data;
}

const CIFAR_DATA = 'the folder holding data_batch_1..5.bin / test_batch.bin (the binary version, cifar-10-binary.tar.gz)';
const MNIST_DATA = 'the folder with the MNIST IDX files (train-images-idx3-ubyte(.gz), ...)';
const FOLDER_DATA = 'a folder with one subfolder per class (or train/ and test/ folders holding those)';

export const DATASETS = {
  cifar10: {
    data: CIFAR_DATA,
    aliases: ['cifar-10'],
    async open(o: OpenDatasetOptions): Promise<ClassificationDataset> {
      if (!o.download) return readCifar10(need('cifar10', o, `${CIFAR_DATA}, or add --download`), { split: o.split, onWarning: o.onWarning });
      const folder = await downloadCifar10(o.data ?? 'data', { onProgress: o.onProgress });
      return readCifar10(folder, { split: o.split, onWarning: o.onWarning });
    },
  },
  'fashion-mnist': {
    data: 'the folder with the Fashion-MNIST IDX files (default: $FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist, datasets/fashion-mnist)',
    aliases: ['fashionmnist'],
    async open(o: OpenDatasetOptions): Promise<ClassificationDataset> {
      return readFashionMnist(o.data, o.split);
    },
  },
  mnist: {
    data: MNIST_DATA,
    async open(o: OpenDatasetOptions): Promise<ClassificationDataset> {
      const dir = need('mnist', o, MNIST_DATA);
      const p = o.split === 'train' ? 'train' : 't10k';
      const pick = (kind: string) => ['', '.gz'].map((z) => path.join(dir, `${p}-${kind}${z}`)).find((f) => fs.existsSync(f));
      const images = pick('images-idx3-ubyte');
      const labels = pick('labels-idx1-ubyte');
      if (!images || !labels) throw new Error(`${dir}: ${p}-images-idx3-ubyte(.gz) / ${p}-labels-idx1-ubyte(.gz) not found`);
      return readIdx(images, labels, { classNames: MNIST_CLASSES, name: `mnist-${o.split}` });
    },
  },
  folder: {
    data: FOLDER_DATA,
    async open(o: OpenDatasetOptions): Promise<ClassificationDataset> {
      const dir = need('folder', o, FOLDER_DATA);
      const sub = path.join(dir, o.split);
      return readImageFolder(fs.existsSync(sub) && fs.statSync(sub).isDirectory() ? sub : dir);
    },
  },
} satisfies Record<string, DatasetEntry>;

export type DatasetName = keyof typeof DATASETS;
/** The `--dataset` choices. */
export const DATASET_NAMES = Object.keys(DATASETS) as DatasetName[];

/** The registry entry for a name or alias. */
export function datasetEntry(kind: string): DatasetEntry & { name: DatasetName } {
  const k = kind.toLowerCase();
  for (const [name, e] of Object.entries(DATASETS) as [DatasetName, DatasetEntry][]) if (name === k || e.aliases?.includes(k)) return { ...e, name };
  throw new Error(`unknown dataset '${kind}' (use ${DATASET_NAMES.join(', ')})`);
}

/** Opens a classification dataset by name (cifar10, fashion-mnist, mnist, folder). */
export function openClassificationDataset(kind: string, o: OpenDatasetOptions): Promise<ClassificationDataset> {
  return datasetEntry(kind).open(o);
}
