/**
 * SGEMM benchmark of the native addon's matmul on the shapes of BERT-base training and ViT-B/16 / ViT-L/14
 * inference: the built-in SGEMM's code paths (avx512 14x32 tile, avx2 6x16 tile) against OpenBLAS, called through the
 * addon's `gemm` (the entry BatchMatMul/_FusedMatMul use, batches included), same inputs, alternating within each
 * round. Prints median GFLOP/s over the rounds, the ratios to OpenBLAS and the winner, with the load average
 * (the machine may be shared: compare within one run only), and each path's share of this machine's peak for its
 * precision, measured at the start by the same loops as `npm run bench -- peak` with the bench's threads: float32
 * paths against the FMA peak, `bf16` (bf16 products on vdpbf16ps, float32 accumulation: what amp_bf16 runs) against
 * the vdpbf16ps peak, `bf16-emulated` (the same values from float32 FMAs, CPUs without AVX512_BF16) against the FMA
 * peak. The last line gives each path's median share over the AltCLIP-L shapes (vit-l/14 training, embed).
 *
 *   npm run bench -- gemm [--rounds 7] [--ms 60] [--threads N] [--only bert|vit|attn|<substring>]
 *                         [--paths avx512,avx2,openblas,bf16,bf16-emulated] [--clock wall|cpu]
 * Default paths: every one this machine runs except `baseline` and `bf16-emulated`.
 * `--clock cpu` times by the process's CPU time (user + system) instead of the wall clock: with --threads 1 that is
 * each kernel's own speed, unaffected by other processes taking the core away (a shared machine); with more
 * threads it is work per CPU-second (a pool that spins while waiting pays for it).
 */
import * as os from 'os';
import { GemmIsa, loadAddon, measurePeak, supportedGemmIsas } from '@altclip/native';

interface Shape {
  name: string;
  M: number;
  N: number;
  K: number;
  tA: boolean;
  tB: boolean;
  /** Number of gemms in the batch (attention: batch x heads). */
  count: number;
}

const sh = (name: string, M: number, N: number, K: number, t: string, count = 1): Shape => ({ name, M, N, K, tA: t[0] === 'T', tB: t[1] === 'T', count });

/**
 * Dense layers: y = x W (NN), backward dx = dy W^T (NT), dW = x^T dy (TN); T tokens. Attention per (batch, head):
 * S = Q K^T (NT, K = head dim 64), O = P V (NN); backward dP = dO V^T (NT), dV = P^T dO (TN), dQ = dS K (NN).
 */
function shapes(): Shape[] {
  const out: Shape[] = [];
  for (const T of [512, 4096]) {
    const p = `bert T=${T}`;
    out.push(sh(`${p} qkv/out fwd`, T, 768, 768, 'NN'), sh(`${p} ffn-up fwd`, T, 3072, 768, 'NN'), sh(`${p} ffn-down fwd`, T, 768, 3072, 'NN'));
    out.push(sh(`${p} ffn-up dx`, T, 768, 3072, 'NT'), sh(`${p} ffn-up dW`, 768, 3072, T, 'TN'), sh(`${p} qkv/out dx`, T, 768, 768, 'NT'));
    out.push(sh(`${p} qkv/out dW`, 768, 768, T, 'TN'));
  }
  out.push(sh('vit-b/16 B=8 qkv/out', 8 * 197, 768, 768, 'NN'), sh('vit-b/16 B=8 mlp-up', 8 * 197, 3072, 768, 'NN'));
  out.push(sh('vit-b/16 B=8 mlp-down', 8 * 197, 768, 3072, 'NN'));
  out.push(sh('vit-l/14 B=4 qkv/out', 4 * 257, 1024, 1024, 'NN'), sh('vit-l/14 B=4 mlp-up', 4 * 257, 4096, 1024, 'NN'));
  out.push(sh('vit-l/14 B=4 mlp-down', 4 * 257, 1024, 4096, 'NN'));
  // Embedding one image (257 tokens) and one text (77 tokens) with AltCLIP-L: linear layers x W^T.
  for (const T of [257, 77]) {
    out.push(sh(`embed T=${T} qkv/out`, T, 1024, 1024, 'NT'), sh(`embed T=${T} mlp-up`, T, 4096, 1024, 'NT'), sh(`embed T=${T} mlp-down`, T, 1024, 4096, 'NT'));
  }
  for (const [model, L, BH] of [['bert B=8', 128, 96], ['vit-b/16 B=8', 197, 96], ['vit-l/14 B=4', 257, 64]] as const) {
    const p = `attn ${model} [${BH},${L},64]`;
    out.push(sh(`${p} QK^T`, L, L, 64, 'NT', BH), sh(`${p} PV`, L, 64, L, 'NN', BH));
    out.push(sh(`${p} dV=P^T dO`, L, 64, L, 'TN', BH), sh(`${p} dQ=dS K`, L, 64, L, 'NN', BH));
  }
  return out;
}

interface Opts {
  rounds: number;
  ms: number;
  threads: number;
  only: string;
  paths: string[];
  clock: 'wall' | 'cpu';
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { rounds: 7, ms: 60, threads: 0, only: '', paths: [], clock: 'wall' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log('options: --rounds 7 --ms 60 (per timing) --threads N (default: the addon\'s) --only <substring of shape names> --paths avx512,avx2,baseline,openblas,bf16,bf16-emulated --clock wall|cpu');
      process.exit(0);
    }
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(a);
    if (!m || !(m[1] in o)) throw new Error(`unknown argument '${a}' (see --help)`);
    const v = m[2] ?? argv[++i];
    if (v == null) throw new Error(`${a} needs a value`);
    if (m[1] === 'only') o.only = v;
    else if (m[1] === 'clock') {
      if (v !== 'wall' && v !== 'cpu') throw new Error(`--clock must be wall or cpu, got '${v}'`);
      o.clock = v;
    }
    else if (m[1] === 'paths') o.paths = v.split(',').map((s) => s.trim()).filter(Boolean);
    else {
      const n = Number(v);
      if (!Number.isInteger(n) || n < (m[1] === 'threads' ? 0 : 1)) throw new Error(`${a} must be a positive integer, got '${v}'`);
      (o as unknown as Record<string, number>)[m[1]] = n;
    }
  }
  return o;
}

/** Nanoseconds: the wall clock, or the process's CPU time. */
const clockNs = (clock: 'wall' | 'cpu') => (clock === 'wall' ? Number(process.hrtime.bigint()) : ((u) => (u.user + u.system) * 1000)(process.cpuUsage()));
const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const { addon, why } = loadAddon();
  if (!addon) throw new Error(`gemm bench needs the native addon: ${why}`);
  if (o.threads) addon.setThreads(o.threads);
  const isas = supportedGemmIsas();
  const bf16Native = addon.bf16Info().native;
  const available = [...isas, ...(addon.info().openblas ? ['openblas'] : []), ...(bf16Native ? ['bf16'] : []), 'bf16-emulated'];
  if (!o.paths.length) o.paths = available.filter((p) => p !== 'baseline' && p !== 'bf16-emulated');
  for (const p of o.paths) {
    if (!available.includes(p)) {
      throw new Error(`--paths: '${p}' is not available here (this machine runs: ${available.join(', ')}${bf16Native ? '' : '; no AVX512_BF16, so no bf16 path'})`);
    }
  }
  const info0 = addon.info();
  const list = shapes().filter((s) => s.name.includes(o.only));
  if (!list.length) throw new Error(`--only '${o.only}' matches no shape`);
  console.log(`gemm bench ${new Date().toISOString()}  ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}  threads ${info0.threads}  ` +
    `OpenBLAS ${info0.blasCore || '-'} (OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? 'unset'})  load ${load()}`);
  const threads = addon.info().threads;
  const peak = { fp32: measurePeak('fp32', threads) ?? NaN, bf16: bf16Native ? measurePeak('bf16', threads) ?? NaN : NaN };
  const isBf16 = (p: string) => p.startsWith('bf16');
  const peakOf = (p: string) => (p === 'bf16' ? peak.bf16 : peak.fp32);
  console.log(`peak (register-only loops, ${threads} thread(s), now): fp32 FMA ${peak.fp32.toFixed(0)} GFLOP/s, bf16 dot ${bf16Native ? `${peak.bf16.toFixed(0)} GFLOP/s` : 'none (no AVX512_BF16)'}`);
  console.log(`median GFLOP/s (${o.clock} clock) over ${o.rounds} rounds, paths alternating within each round, (share of the path's peak); ratio = path / openblas`);
  const use = (p: string) => {
    if (p === 'openblas') addon.setGemm(false);
    else if (isBf16(p)) addon.setBf16Emulation(p === 'bf16-emulated');
    else {
      addon.setGemm(true);
      addon.setGemmIsa(p as GemmIsa);
    }
  };
  const altclipL: Record<string, number[]> = Object.fromEntries(o.paths.map((p) => [p, []]));
  const wins: Record<string, number> = {};
  for (const s of list) {
    const aLen = s.count * s.M * s.K, bLen = s.count * s.K * s.N, cLen = s.count * s.M * s.N;
    const heap = new Float32Array(aLen + bLen + cLen);
    for (let i = 0; i < aLen + bLen; i++) heap[i] = Math.sin(i * 0.618) * 0.5;
    const bytes = new Uint8Array(heap.buffer);
    let types = 0; // GEMM_TYPES bits: 4 = bf16 products
    const run = () => addon.gemm(bytes, 0, aLen * 4, (aLen + bLen) * 4, s.M, s.N, s.K, s.tA, s.tB, s.count, s.M * s.K, s.K * s.N, null, null, -1, 0, 0, 0, types);
    const flops = 2 * s.M * s.N * s.K * s.count;
    // Calibrate the repeat count on the first path, check the paths agree, then time.
    use(o.paths[0]);
    run();
    const t0 = process.hrtime.bigint();
    run();
    const once = Number(process.hrtime.bigint() - t0) / 1e6;
    const reps = Math.max(1, Math.round(o.ms / Math.max(once, 1e-3)));
    // Paths of one precision must agree (bf16 products differ from float32 ones by design).
    const firstOut: Record<string, Float32Array> = {};
    let maxDiff = 0;
    for (const p of o.paths) {
      use(p);
      types = isBf16(p) ? 4 : 0;
      run();
      const c = heap.subarray(aLen + bLen);
      const ref = firstOut[isBf16(p) ? 'bf16' : 'fp32'];
      if (!ref) firstOut[isBf16(p) ? 'bf16' : 'fp32'] = Float32Array.from(c);
      else for (let i = 0; i < c.length; i++) maxDiff = Math.max(maxDiff, Math.abs(c[i] - ref[i]) / (1 + Math.abs(ref[i])));
    }
    const gf: Record<string, number[]> = Object.fromEntries(o.paths.map((p) => [p, []]));
    for (let r = 0; r < o.rounds; r++) {
      for (let w = 0; w < o.paths.length; w++) {
        const p = o.paths[(w + r) % o.paths.length];
        use(p);
        types = isBf16(p) ? 4 : 0;
        const t = clockNs(o.clock);
        for (let q = 0; q < reps; q++) run();
        gf[p].push((flops * reps) / (clockNs(o.clock) - t));
      }
    }
    const med = Object.fromEntries(o.paths.map((p) => [p, median(gf[p])]));
    const best = o.paths.reduce((x, y) => (med[y] > med[x] ? y : x));
    wins[best] = (wins[best] ?? 0) + 1;
    const cols = o.paths.map((p) => `${p} ${med[p].toFixed(1).padStart(6)} (${((100 * med[p]) / peakOf(p)).toFixed(0).padStart(2)}%)`).join('  ');
    if (/vit-l|embed/.test(s.name)) for (const p of o.paths) altclipL[p].push(med[p] / peakOf(p));
    const ratios = 'openblas' in med ? o.paths.filter((p) => p !== 'openblas').map((p) => `${p}/blas ${(med[p] / med.openblas).toFixed(2)}`).join(' ') : '';
    const dims = `${s.count > 1 ? `${s.count}x ` : ''}${s.M}x${s.N}x${s.K} ${s.tA ? 'T' : 'N'}${s.tB ? 'T' : 'N'}`;
    console.log(`${s.name.padEnd(40)} ${dims.padEnd(22)} ${cols}  ${ratios}  best ${best}${maxDiff > 1e-4 ? `  MISMATCH ${maxDiff.toExponential(1)}` : ''}`);
  }
  console.log(`wins: ${Object.entries(wins).map(([p, n]) => `${p} ${n}`).join(', ')}  load ${load()}`);
  if (altclipL[o.paths[0]].length) {
    const share = o.paths.map((p) => `${p} ${(100 * median(altclipL[p])).toFixed(0)}% of its ${p === 'bf16' ? 'bf16' : 'fp32'} peak`).join(', ');
    console.log(`AltCLIP-L shapes (${altclipL[o.paths[0]].length}), median share: ${share} (targets: bf16 >= 75%, fp32 >= 80%)`);
  }
  addon.setBf16Emulation(false);
  addon.setGemm(info0.gemm);
  addon.setGemmIsa(info0.builtinIsa);
}

main();
