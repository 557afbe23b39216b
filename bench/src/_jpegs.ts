import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { mulberry32 as rng } from '@altclip/backend';

/** ~n varied-size JPEGs (300-1200 px, smooth random content with some detail), seeded: the same files every time. */
export async function generateJpegs(dir: string, n: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const r = rng(1234);
  for (let i = 0; i < n; i++) {
    const w = 300 + Math.floor(r() * 901);
    const h = 300 + Math.floor(r() * 901);
    // Coarse noise, upscaled and blurred: photo-like smooth content with some detail.
    const cw = Math.max(4, w >> 4);
    const ch = Math.max(4, h >> 4);
    const noise = Buffer.alloc(cw * ch * 3);
    for (let j = 0; j < noise.length; j++) noise[j] = Math.floor(r() * 256);
    await sharp(noise, { raw: { width: cw, height: ch, channels: 3 } })
      .resize(w, h, { kernel: 'cubic' })
      .blur(1 + r() * 3)
      .jpeg({ quality: 85 + Math.floor(r() * 10), chromaSubsampling: r() < 0.7 ? '4:2:0' : '4:4:4' })
      .toFile(path.join(dir, `img_${String(i).padStart(4, '0')}.jpg`));
    if ((i + 1) % 50 === 0) process.stdout.write(`  generated ${i + 1}/${n}\n`);
  }
}
