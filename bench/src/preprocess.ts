/**
 * Throughput: decode + preprocess a folder of JPEG photos to 224x224 float32 CLIP tensors, ours (sharp decode +
 * Pillow-exact TS resampling on worker threads) against the Python reference (PIL + torchvision
 * clip._transform in a torch DataLoader with the same number of worker processes), on the same files.
 *
 *   npm run bench -- preprocess [--dir DIR] [--n 200] [--threads 2] [--batch 32] [--rounds 2]
 * Without --dir, ~n varied-size JPEGs (300-1200 px, smooth random content) are generated into a temp folder.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { closeSharedPool, preprocessFiles } from '@altclip/image';
import { generateJpegs as generate } from './_jpegs';

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

const PY = `
import sys, time, os
import torch, numpy as np
from PIL import Image
from torchvision.transforms import Compose, Resize, CenterCrop, ToTensor, Normalize, InterpolationMode
torch.set_num_threads(1)
files = [l.strip() for l in open(sys.argv[1]) if l.strip()]
workers, batch, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tf = Compose([Resize(224, interpolation=InterpolationMode.BICUBIC), CenterCrop(224), lambda im: im.convert("RGB"), ToTensor(),
              Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])
class DS(torch.utils.data.Dataset):
    def __init__(self, f): self.f = f
    def __len__(self): return len(self.f)
    def __getitem__(self, i): return tf(Image.open(self.f[i]))
# Persistent workers and a full warm-up epoch, like our warm worker pool: only steady-state throughput is timed.
dl = torch.utils.data.DataLoader(DS(files), batch_size=batch, num_workers=workers, persistent_workers=workers > 0)
for _ in dl:
    pass
t = time.perf_counter()
res = [b for b in dl]
dt = time.perf_counter() - t
np.concatenate([b.numpy() for b in res])[:4].astype('<f4').tofile(out)
print(f"{len(files) / dt:.3f}")
`;

function findPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch, torchvision, PIL'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}

async function main(): Promise<void> {
  const n = Number(arg('n', '200'));
  const threads = Number(arg('threads', String(os.cpus().length)));
  const batch = Number(arg('batch', '32'));
  let dir = arg('dir');
  if (!dir) {
    dir = path.join(os.tmpdir(), `altclip-bench-jpegs-${n}`);
    const have = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.jpg')).length : 0;
    if (have < n) {
      console.log(`generating ${n} JPEGs in ${dir}`);
      await generate(dir, n);
    }
  }
  const files = fs.readdirSync(dir).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort().slice(0, n).map((f) => path.join(dir!, f));
  console.log(`preprocess bench: ${files.length} images from ${dir}, ${threads} threads/processes, batch ${batch}, CLIP 224 (openai pipeline)`);
  const opts = { size: 224, crop: 'openai' as const };
  // Two batches in flight, like a data loader that prefetches the next batch (DataLoader does the same).
  const runOurs = async (list: string[]) => {
    const out: Float32Array[] = [];
    const inflight: Promise<{ data: Float32Array }>[] = [];
    for (let i = 0; i < list.length; i += batch) {
      inflight.push(preprocessFiles(list.slice(i, i + batch), opts, { threads }));
      if (inflight.length >= 2) out.push((await inflight.shift()!).data);
    }
    while (inflight.length) out.push((await inflight.shift()!).data);
    return out;
  };
  const rounds = Number(arg('rounds', '2'));
  const py = findPython();
  if (!py) console.log('  python reference skipped: python3 with torch, torchvision and PIL not found (Debian: apt-get install -y python3-torchvision python3-pil)');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'altclip-bench-py-'));
  fs.writeFileSync(path.join(tmp, 'files.txt'), files.join('\n'));
  fs.writeFileSync(path.join(tmp, 'ref.py'), PY);
  await runOurs(files.slice(0, 2 * batch)); // warm-up: worker start, JIT
  // Alternate the two so that load from other processes on the machine hits both alike; report the best round.
  let oursRate = 0;
  let pyRate = 0;
  let ours: Float32Array[] = [];
  const ratios: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const t0 = process.hrtime.bigint();
    ours = await runOurs(files);
    const rate = files.length / (Number(process.hrtime.bigint() - t0) / 1e9);
    oursRate = Math.max(oursRate, rate);
    let line = `  round ${round}: ours ${rate.toFixed(1)} images/s`;
    if (py) {
      const r = spawnSync(py, [path.join(tmp, 'ref.py'), path.join(tmp, 'files.txt'), String(threads), String(batch), path.join(tmp, 'first4.f32')], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`python reference failed:\n${r.stderr}`);
      const pr = Number(r.stdout.trim().split('\n').pop());
      pyRate = Math.max(pyRate, pr);
      ratios.push(rate / pr);
      line += `, python ${pr.toFixed(1)} images/s`;
    }
    console.log(line);
  }
  await closeSharedPool();
  console.log(`  ours   (sharp decode + Pillow-exact TS/wasm resample, ${threads} worker threads): ${oursRate.toFixed(1)} images/s`);
  if (py) {
    const pil = spawnSync(py, ['-c', 'import PIL; print(PIL.__version__)'], { encoding: 'utf8' }).stdout.trim();
    console.log(`  python (PIL ${pil} + torchvision clip._transform, DataLoader num_workers=${threads}): ${pyRate.toFixed(1)} images/s`);
    const med = ratios.sort((a, b) => a - b)[Math.floor(ratios.length / 2)];
    console.log(`  ratio ours/python: ${(oursRate / pyRate).toFixed(2)}x best vs best, ${med.toFixed(2)}x median of per-round ratios (${rounds} alternating rounds)`);
    const ref = new Float32Array(fs.readFileSync(path.join(tmp, 'first4.f32')).buffer.slice(0));
    let maxd = 0;
    for (let i = 0; i < ref.length; i++) maxd = Math.max(maxd, Math.abs(ref[i] - ours[0][i]));
    console.log(`  check: max |ours - python| over the first ${ref.length / (3 * 224 * 224)} tensors = ${maxd}`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
