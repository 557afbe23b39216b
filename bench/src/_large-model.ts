/**
 * Pieces shared by the AltCLIP-L benchmarks (altclip-large-finetune, data-parallel): a saved AltCLIP-L folder with
 * random weights, a synthetic CIFAR-10 file, and a peak-RSS watcher.
 */
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { AltCLIPConfig, AltCLIPModel, getModelConfig } from '@altclip/models';

export const REPO = path.join(__dirname, '..', '..');

/** A random AltCLIP-L folder (3.5 GB; both towers cut to `layers` layers when set) in `dir`, written once and reused. */
export async function ensureModel(dir: string, layers = 0): Promise<void> {
  if (fs.existsSync(path.join(dir, 'model.safetensors')) && fs.existsSync(path.join(dir, 'config.json'))) {
    console.log(`model: reusing ${dir}`);
    return;
  }
  const t = performance.now();
  await setupBackend();
  const cfg = getModelConfig('altclip-large') as AltCLIPConfig;
  if (layers) {
    cfg.text_config.num_hidden_layers = layers;
    cfg.vision_config.num_hidden_layers = layers;
  }
  const model = new AltCLIPModel(cfg, { seed: 0 });
  await model.save(dir);
  model.dispose();
  fs.copyFileSync(path.join(REPO, 'datasets', 'demo-spm', 'sentencepiece.bpe.model'), path.join(dir, 'sentencepiece.bpe.model'));
  console.log(`model: random AltCLIP-L written to ${dir} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}

/** A CIFAR-10 binary folder of 16 random images. */
export function syntheticCifar(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const n = 16;
  const rec = Buffer.alloc(n * 3073);
  let x = 12345;
  for (let i = 0; i < rec.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    rec[i] = i % 3073 === 0 ? (i / 3073) % 10 : x >>> 24;
  }
  fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), rec);
  fs.writeFileSync(path.join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
}

/** Peak resident memory of a running process (VmHWM), polled. */
export function watchPeak(pid: number): () => number {
  let peak = 0;
  const read = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      /* exited */
    }
  };
  const timer = setInterval(read, 200);
  return () => {
    clearInterval(timer);
    return peak;
  };
}
