import * as fs from 'fs';
import * as path from 'path';
import { loadImage } from '@altclip/image';
import type { ClassificationDataset, RawImage } from './types';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.gif', '.tif', '.tiff', '.ppm', '.pgm'];

export interface ImageFolderDataset extends ClassificationDataset {
  readonly files: string[];
  imagePath(i: number): string;
}

/** Image files directly in dir, sorted by name. */
export function listImages(dir: string, recursive = false): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && recursive) out.push(...listImages(p, true));
    else if (e.isFile() && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) out.push(p);
  }
  return out;
}

/**
 * Class-per-subfolder classification data (torchvision ImageFolder layout): dir/<class>/<image>. Classes are the
 * subfolder names sorted; images are decoded on demand.
 */
export function readImageFolder(dir: string, opts: { classNames?: string[] } = {}): ImageFolderDataset {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`image folder not found: ${dir}`);
  const subdirs = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const classNames = opts.classNames ?? subdirs;
  for (const c of classNames) if (!subdirs.includes(c)) throw new Error(`${dir}: class folder '${c}' not found`);
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((c, k) => {
    for (const f of listImages(path.join(dir, c), true)) {
      files.push(f);
      labels.push(k);
    }
  });
  if (files.length === 0) throw new Error(`${dir}: no images found in class subfolders (${subdirs.join(', ') || 'none'})`);
  const at = (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= files.length) throw new RangeError(`image index ${i} out of range [0, ${files.length})`);
    return files[i];
  };
  return {
    name: path.basename(path.resolve(dir)),
    size: files.length,
    classNames,
    labels: Int32Array.from(labels),
    files,
    imagePath: at,
    getImage: async (i: number): Promise<RawImage> => {
      const f = at(i);
      try {
        return await loadImage(f);
      } catch (e) {
        throw new Error(`${f}: cannot decode image (${(e as Error).message})`, { cause: e });
      }
    },
  };
}
