/** Runs the altclip CLI in-process (its `main`), capturing what it prints: stdout (console.log) and stderr. */
import * as path from 'path';
import sharp from 'sharp';
import { main } from '@altclip/cli';
import { readCifar10 } from '@altclip/data';

export async function runCli(args: string[]): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const spyErr = jest.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    await main(args);
  } finally {
    spy.mockRestore();
    spyErr.mockRestore();
  }
  return { out: out.join('\n'), err: err.join('') };
}

/** Writes the first `limit` images of a CIFAR-10 binary split as PNG files in `dir` (img000.png, ...); returns them and their labels. */
export async function cifarPngs(cifarDir: string, split: 'train' | 'test', dir: string, limit = Infinity): Promise<{ files: string[]; labels: number[] }> {
  const ds = readCifar10(cifarDir, { split });
  try {
    const n = Math.min(ds.size, limit);
    const files: string[] = [];
    for (let i = 0; i < n; i++) {
      const img = await ds.getImage(i);
      files.push(path.join(dir, `img${String(i).padStart(3, '0')}.png`));
      await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(files[i]);
    }
    return { files, labels: Array.from(ds.labels.subarray(0, n)) };
  } finally {
    ds.close();
  }
}
