import * as fs from 'fs';
import * as path from 'path';
import { ClassificationDataset, readCifar10, readFashionMnist, readImageFolder, readIdx, MNIST_CLASSES, downloadCifar10 } from '@altclip/data';

/** Opens cifar10 | fashion-mnist | mnist | folder from `data` (see FinetuneOptions.data). */
export async function openClassificationDataset(kind: string, data: string | undefined, split: 'train' | 'test', download = false): Promise<ClassificationDataset> {
  switch (kind.toLowerCase()) {
    case 'cifar10':
    case 'cifar-10': {
      if (!data) throw new Error('finetune --dataset cifar10 needs --data <folder with data_batch_*.bin>');
      if (download) await downloadCifar10(data);
      return readCifar10(data, { split });
    }
    case 'fashion-mnist':
    case 'fashionmnist':
      return readFashionMnist(data, split);
    case 'mnist': {
      if (!data) throw new Error('finetune --dataset mnist needs --data <folder with the MNIST IDX files>');
      const p = split === 'train' ? 'train' : 't10k';
      const pick = (kind2: string) => ['', '.gz'].map((z) => path.join(data, `${p}-${kind2}${z}`)).find((f) => fs.existsSync(f));
      const images = pick('images-idx3-ubyte');
      const labels = pick('labels-idx1-ubyte');
      if (!images || !labels) throw new Error(`${data}: ${p}-images-idx3-ubyte(.gz) / ${p}-labels-idx1-ubyte(.gz) not found`);
      return readIdx(images, labels, { classNames: MNIST_CLASSES, name: `mnist-${split}` });
    }
    case 'folder':
      if (!data) throw new Error('finetune --dataset folder needs --data <folder of class folders>');
      return readImageFolder(data);
    default:
      throw new Error(`unknown dataset '${kind}' (use cifar10, fashion-mnist, mnist or folder)`);
  }
}

