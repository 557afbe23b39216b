/**
 * `npm run bench -- frozen-features [--towers b16,l14] [--rows 1,8,32] [--threads 2] [--images N] [--rounds N] [--backend native]`
 * The cost of a frozen image tower's feature pass per image at several rows per call (issue 24, item 11): finetune
 * and contrastive cache a frozen tower's features on first sight, and how they group the images into calls decides
 * both the first epoch's speed and whether a resumed run is bit-exact. Random weights in the shapes of ViT-B/16
 * (openai/clip-vit-base-patch16) and ViT-L/14 (BAAI/AltCLIP's, configs/models/altclip-large.json); the text tower is
 * shrunk to the minimum since only getImageFeatures runs. Prints the median seconds per image (wall, and this
 * process's CPU) of each row count, interleaved in rounds (--images per row count a round, --rounds), and the ratio to
 * the largest row count.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setNativeThreads, setupBackend } from '@altclip/backend';
import { AltCLIPConfig, AltCLIPModel, getModelConfig } from '@altclip/models';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

const VISION: Record<string, Partial<AltCLIPConfig['vision_config']> & { projection: number }> = {
  b16: { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, patch_size: 16, projection: 512 },
  l14: { hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_attention_heads: 16, patch_size: 14, projection: 768 },
};

/** altclip-large's config with the named vision tower and a one-layer, 1000-word text tower. */
function towerConfig(name: string): Record<string, unknown> {
  const v = VISION[name];
  if (!v) throw new Error(`--towers: unknown tower '${name}' (known: ${Object.keys(VISION).join(', ')})`);
  const { projection, ...vision } = v;
  const large = getModelConfig('altclip-large') as AltCLIPConfig;
  return {
    ...large,
    projection_dim: projection,
    text_config: { ...large.text_config, vocab_size: 1000, hidden_size: 64, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 64, project_dim: projection },
    vision_config: { ...large.vision_config, ...vision, image_size: 224, projection_dim: projection },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Seconds (wall, and CPU of this process) per image of one getImageFeatures call on `px` ([rows, 3, S, S]). */
function timeCall(model: AltCLIPModel, px: tf.Tensor4D): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  tf.tidy(() => model.getImageFeatures(px)).dataSync();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const n = px.shape[0];
  return { wall: wall / n, cpu: (c.user + c.system) / 1e6 / n };
}

/**
 * Median per-image seconds of each row count over `rounds` rounds; a round runs `images` images at each row count
 * (at least one call), the row counts interleaved so that each round sees the same load on a shared machine.
 */
function perImage(model: AltCLIPModel, rows: number[], images: number, rounds: number): Array<{ wall: number; cpu: number }> {
  const S = model.config.vision_config.image_size;
  const inputs = rows.map((r) => tf.randomNormal([r, 3, S, S], 0, 1, 'float32', r) as tf.Tensor4D);
  for (const px of inputs) timeCall(model, px); // warm-up: first-call allocations, arena growth
  const samples = rows.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
  for (let k = 0; k < rounds; k++) {
    rows.forEach((r, i) => {
      for (let c = 0; c < Math.max(1, Math.round(images / r)); c++) {
        const t = timeCall(model, inputs[i]);
        samples[i].wall.push(t.wall);
        samples[i].cpu.push(t.cpu);
      }
    });
  }
  inputs.forEach((t) => t.dispose());
  return samples.map((s) => ({ wall: median(s.wall), cpu: median(s.cpu) }));
}

async function main() {
  const choice = await setupBackend({ backend: arg('backend', 'native') as 'native' });
  const threads = Number(arg('threads', '2'));
  if (choice.name === 'native') setNativeThreads(threads);
  const rows = arg('rows', '1,8,32').split(',').map(Number);
  console.log(`backend: ${choice.name}, ${threads} thread(s); rows per call: ${rows.join(', ')}`);
  for (const name of arg('towers', 'b16,l14').split(',')) {
    const model = new AltCLIPModel(towerConfig(name), { seed: 0, distribution: 'uniform' });
    const images = Number(arg('images', name === 'l14' ? '4' : '8'));
    const t = perImage(model, rows, images, Number(arg('rounds', name === 'l14' ? '2' : '3')));
    const ref = t[t.length - 1];
    const cell = (x: number, r: number) => `${(x * 1000).toFixed(0)} ms (x${(x / r).toFixed(3)})`;
    for (const [what, key] of [['wall', 'wall'], ['cpu', 'cpu']] as const) {
      const cells = rows.map((r, i) => `${r}/call ${cell(t[i][key], ref[key])}`);
      console.log(`${name}: ${what} per image: ${cells.join(', ')}  [ratios vs ${rows[rows.length - 1]}/call]`);
    }
    model.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
