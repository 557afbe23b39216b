/**
 * `npm run bench -- altclip-large [--backend auto|wasm|cpu|tensorflow] [--runs N]`
 * Builds altclip-large (the exact BAAI/AltCLIP shapes, 864M parameters) with random weights, embeds one
 * 224x224 image and one 77-token text, and prints build time, embed times and peak memory. On wasm the
 * 250002x1024 word-embedding table stays on the host (embeddingsOnHost) because the wasm heap stops near
 * 4 GiB; if the backend still cannot hold the model this says so instead of crashing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { AltCLIPConfig, altclipSpecs, AltCLIPModel, countParams, getModelConfig } from '@altclip/models';

const WASM_HEAP_LIMIT = 3.8 * 2 ** 30; // usable wasm32 heap (4 GiB address space minus runtime overhead)
const GiB = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

function memLine(): string {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  const wasmHeap = (tf.backend() as any)?.wasm?.HEAPU8?.buffer?.byteLength as number | undefined;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  return (
    `peak RSS ${GiB(peakRss)}, RSS now ${GiB(process.memoryUsage().rss)}, tf.memory: ${m.numTensors} tensors / ${GiB(m.numBytes)}` +
    (wasmHeap ? `, wasm heap ${GiB(wasmHeap)}` : '')
  );
}

/** Multiply-add count of a transformer encoder over `n` tokens (linear layers + attention). */
function encoderMacs(n: number, hidden: number, inter: number, layers: number): number {
  return layers * (n * (4 * hidden * hidden + 2 * hidden * inter) + 2 * n * n * hidden);
}

async function main() {
  const choice = await setupBackend({ backend: arg('backend', 'auto') as any });
  const runs = Number(arg('runs', '1'));
  console.log(`backend: ${choice.name} (${choice.reason})`);
  const config = getModelConfig('altclip-large') as AltCLIPConfig;
  const specs = altclipSpecs(config);
  const total = countParams(specs);
  const onHost = choice.name === 'wasm';
  const wordEmb = config.text_config.vocab_size * config.text_config.hidden_size;
  const inHeap = (total - (onHost ? wordEmb : 0)) * 4;
  console.log(`altclip-large: ${total.toLocaleString('en-US')} parameters (${GiB(total * 4)} fp32)` + (onHost ? `; word embeddings (${GiB(wordEmb * 4)}) kept on the host` : ''));
  if (choice.name === 'wasm' && inHeap > WASM_HEAP_LIMIT * 0.9) {
    console.log(`RESULT: the wasm backend cannot hold altclip-large: ${GiB(inHeap)} of weights vs a heap limit of about ${GiB(WASM_HEAP_LIMIT)}.`);
    process.exitCode = 3;
    return;
  }

  let model: AltCLIPModel;
  const t0 = Date.now();
  let lastPrint = 0;
  try {
    model = new AltCLIPModel(config, {
      seed: 0,
      distribution: 'uniform', // cheap JS PRNG fill; values do not matter for timing
      embeddingsOnHost: onHost,
      onProgress: (done, n) => {
        if (Date.now() - lastPrint > 5000 || done === n) {
          lastPrint = Date.now();
          console.log(`  building: ${done}/${n} tensors, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        }
      },
    });
  } catch (e) {
    console.log(`RESULT: the ${choice.name} backend cannot hold altclip-large (${(e as Error).message.split('\n')[0]}). ${memLine()}`);
    process.exitCode = 3;
    return;
  }
  const buildS = (Date.now() - t0) / 1000;
  console.log(`build: ${buildS.toFixed(1)} s; ${memLine()}`);

  const L = 77;
  const ids = [Array.from({ length: L }, (_, i) => (i === 0 ? 0 : i === L - 1 ? 2 : 5 + ((i * 7919) % 250000)))];
  const mask = [Array(L).fill(1)];
  const S = config.vision_config.image_size;
  const pixels = tf.randomNormal([1, 3, S, S], 0, 1, 'float32', 1) as tf.Tensor4D;
  try {
    for (let r = 0; r < runs; r++) {
      let t = Date.now();
      const img = model.getImageFeatures(pixels);
      await img.data();
      const imageS = (Date.now() - t) / 1000;
      t = Date.now();
      const txt = model.getTextFeatures(ids, mask);
      await txt.data();
      const textS = (Date.now() - t) / 1000;
      const v = config.vision_config;
      const tc = config.text_config;
      const P = (S / v.patch_size) ** 2;
      const imageFlops = 2 * (encoderMacs(P + 1, v.hidden_size, v.intermediate_size, v.num_hidden_layers) + P * 3 * v.patch_size ** 2 * v.hidden_size);
      const textFlops = 2 * encoderMacs(L, tc.hidden_size, tc.intermediate_size, tc.num_hidden_layers);
      console.log(
        `run ${r + 1}: image 224x224 -> [${img.shape}] ${imageS.toFixed(2)} s (${(imageFlops / imageS / 1e9).toFixed(1)} GFLOP/s); ` +
          `text 77 tokens -> [${txt.shape}] ${textS.toFixed(2)} s (${(textFlops / textS / 1e9).toFixed(1)} GFLOP/s); ${memLine()}`,
      );
      tf.dispose([img, txt]);
    }
  } catch (e) {
    console.log(`RESULT: the ${choice.name} backend could not run altclip-large inference (${(e as Error).message.split('\n')[0]}). ${memLine()}`);
    process.exitCode = 3;
    return;
  } finally {
    pixels.dispose();
  }
  model.dispose();
  console.log(`RESULT: altclip-large on ${choice.name}: build ${buildS.toFixed(1)} s, peak RSS ${GiB(process.resourceUsage().maxRSS * 1024)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
