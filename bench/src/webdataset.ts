/**
 * Throughput: WebDataset JPEG shards -> 224x224 float32 CLIP tensors. Ours: the shard stream (RankStream over
 * webDatasetSource: tar members grouped by key, file order) with images decoded and preprocessed on the worker pool
 * (preprocessBuffers), two batches in flight. Reference: a PyTorch DataLoader with the same number of worker
 * processes over the same shards (Python `webdataset` where importable, else an IterableDataset over `tarfile`, shards
 * split across workers), PIL + torchvision transforms (clip._transform). Checks that the tensors agree.
 *
 *   npm run bench -- webdataset [--n 400] [--per-shard 100] [--threads 2] [--batch 32] [--rounds 3]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RankStream, webDatasetSource, WdsRecord, writeShards } from '@altclip/data';
import { closeSharedPool, preprocessBuffers } from '@altclip/image';
import { generateJpegs } from './_jpegs';

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

const PY = `
import sys, io, time, tarfile
import torch, numpy as np
from PIL import Image
from torchvision.transforms import Compose, Resize, CenterCrop, ToTensor, Normalize, InterpolationMode
torch.set_num_threads(1)
shards = [l.strip() for l in open(sys.argv[1]) if l.strip()]
workers, batch, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tf = Compose([Resize(224, interpolation=InterpolationMode.BICUBIC), CenterCrop(224), lambda im: im.convert("RGB"), ToTensor(),
              Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])
try:
    import webdataset as wds
    ds = wds.WebDataset(shards, shardshuffle=False, workersplitter=wds.split_by_worker).decode("pil").to_tuple("jpg", "txt").map_tuple(tf, lambda t: t)
    kind = "webdataset " + wds.__version__
except ImportError:
    class Shards(torch.utils.data.IterableDataset):
        """WebDataset's reading without the package: shards split across workers, members grouped by key."""
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            mine = shards if info is None else shards[info.id::info.num_workers]
            for s in mine:
                with tarfile.open(s, "r|*") as t:
                    key, sample = None, {}
                    for m in t:
                        if not m.isfile():
                            continue
                        base = m.name.rsplit("/", 1)[-1]
                        k, ext = (m.name[: len(m.name) - len(base)] + base.split(".", 1)[0]), base.split(".", 1)[1].lower()
                        if k != key and sample:
                            yield self.make(sample)
                            sample = {}
                        key = k
                        sample[ext] = t.extractfile(m).read()
                    if sample:
                        yield self.make(sample)
        def make(self, s):
            return tf(Image.open(io.BytesIO(s["jpg"]))), s["txt"].decode("utf8")
    ds = Shards()
    kind = "IterableDataset over tarfile (webdataset not installed)"
# Persistent workers and a full warm-up epoch, like our warm worker pool: only steady-state throughput is timed.
dl = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, persistent_workers=workers > 0)
n = sum(len(b[0]) for b in dl)
t = time.perf_counter()
res = [b for b in dl]
dt = time.perf_counter() - t
res[0][0][:4].numpy().astype('<f4').tofile(out)
print(kind)
print(f"{n / dt:.3f}")
`;

function findPython(): string | undefined {
  for (const py of [process.env.ALTCLIP_BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter((x): x is string => !!x)) {
    const r = spawnSync(py, ['-c', 'import torch, torchvision, PIL'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}

/** Every sample of the shards, in file order, as tensors: `batch` images a call, two batches in flight. */
async function runOurs(shards: string, threads: number, batch: number): Promise<{ n: number; first: Float32Array }> {
  const src = await webDatasetSource(shards);
  const total = src.units.reduce((a, u) => a + u.size, 0);
  const stream = new RankStream<WdsRecord>(src, { seed: 0, shuffleUnits: false, shuffleBuffer: 0 });
  const opts = { size: 224, crop: 'openai' as const };
  const inflight: Promise<{ data: Float32Array; shape: number[] }>[] = [];
  let first: Float32Array | undefined;
  let n = 0;
  const take = async () => {
    const r = await inflight.shift()!;
    first ??= r.data.slice(0, 4 * 3 * 224 * 224);
    n += r.shape[0];
  };
  for (let i = 0; i < total; i += batch) {
    const items: { name: string; data: Uint8Array }[] = [];
    for (let k = 0; k < Math.min(batch, total - i); k++) {
      const { record, unit } = await stream.next();
      if ('skip' in record) throw new Error(`bench shards: ${record.skip}`);
      items.push({ name: `${unit}:${record.key}`, data: record.image });
    }
    inflight.push(preprocessBuffers(items, opts, { threads }));
    if (inflight.length >= 2) await take();
  }
  while (inflight.length) await take();
  await stream.close();
  return { n, first: first! };
}

async function main(): Promise<void> {
  const n = Number(arg('n', '400'));
  const perShard = Number(arg('per-shard', '100'));
  const threads = Number(arg('threads', '2'));
  const batch = Number(arg('batch', '32'));
  const rounds = Number(arg('rounds', '3'));
  const jpegs = path.join(os.tmpdir(), `altclip-bench-jpegs-${n}`);
  if (!fs.existsSync(jpegs) || fs.readdirSync(jpegs).filter((f) => f.endsWith('.jpg')).length < n) {
    console.log(`generating ${n} JPEGs in ${jpegs}`);
    await generateJpegs(jpegs, n);
  }
  const files = fs.readdirSync(jpegs).filter((f) => f.endsWith('.jpg')).sort().slice(0, n).map((f) => path.join(jpegs, f));
  const shardDir = fs.mkdtempSync(path.join(os.tmpdir(), 'altclip-bench-shards-'));
  const w = await writeShards(files.map((image, i) => ({ image, caption: `image ${i}` })), shardDir, { perShard });
  console.log(`webdataset bench: ${w.samples} JPEGs (300-1200 px) in ${w.shards.length} shards of ${perShard}, ${threads} worker threads/processes, batch ${batch}, CLIP 224 (openai pipeline)`);
  await runOurs(w.pattern, threads, batch); // warm-up: worker start, JIT, page cache
  const py = findPython();
  if (!py) console.log('  python reference skipped: python3 with torch, torchvision and PIL not found (Debian: apt-get install -y python3-torchvision python3-pil)');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'altclip-bench-py-'));
  fs.writeFileSync(path.join(tmp, 'shards.txt'), w.shards.join('\n'));
  fs.writeFileSync(path.join(tmp, 'ref.py'), PY);
  const ratios: number[] = [];
  let ours: Float32Array | undefined;
  let pyKind = '';
  // Alternating rounds, so load from other processes on the machine hits both alike; the median ratio is reported.
  for (let round = 1; round <= rounds; round++) {
    const t0 = process.hrtime.bigint();
    const r = await runOurs(w.pattern, threads, batch);
    const rate = r.n / (Number(process.hrtime.bigint() - t0) / 1e9);
    ours = r.first;
    let line = `  round ${round}: ours ${rate.toFixed(1)} images/s`;
    if (py) {
      const p = spawnSync(py, [path.join(tmp, 'ref.py'), path.join(tmp, 'shards.txt'), String(threads), String(batch), path.join(tmp, 'first4.f32')], { encoding: 'utf8' });
      if (p.status !== 0) throw new Error(`python reference failed:\n${p.stderr}`);
      const lines = p.stdout.trim().split('\n');
      pyKind = lines[lines.length - 2];
      const pr = Number(lines[lines.length - 1]);
      ratios.push(rate / pr);
      line += `, python ${pr.toFixed(1)} images/s, ratio ${(rate / pr).toFixed(2)}x`;
    }
    console.log(line);
  }
  await closeSharedPool();
  if (py && ours) {
    const ver = spawnSync(py, ['-c', 'import torch, torchvision, PIL; print(torch.__version__, torchvision.__version__, PIL.__version__)'], { encoding: 'utf8' }).stdout.trim();
    console.log(`  python: ${pyKind}, DataLoader num_workers=${threads}, torch/torchvision/PIL ${ver}`);
    const med = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)];
    console.log(`  ratio ours/python: ${med.toFixed(2)}x median of ${rounds} alternating rounds (target >= 1.0x: ${med >= 1 ? 'met' : 'NOT met'})`);
    const ref = new Float32Array(fs.readFileSync(path.join(tmp, 'first4.f32')).buffer.slice(0));
    let maxd = 0;
    let diff = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(ref[i] - ours[i]);
      maxd = Math.max(maxd, d);
      if (d > 0) diff++;
    }
    console.log(`  check: the first ${ref.length / (3 * 224 * 224)} tensors: max |ours - python| = ${maxd.toExponential(2)}, ${diff} of ${ref.length} values differ`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(shardDir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
