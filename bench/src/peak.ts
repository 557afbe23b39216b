/**
 * This machine's arithmetic peak: register-only loops (12 independent accumulators, nothing loaded or stored) of
 * float32 FMAs on the widest vectors the CPU has (AVX-512 or AVX2) and of AVX512_BF16 dot products (vdpbf16ps: per
 * lane two bf16 products added to a float32 accumulator), on 1 thread and on all of the addon's threads. Median
 * GFLOP/s over --rounds rounds of --seconds each; `npm run bench -- gemm` reports its GEMMs as a share of these.
 *
 *   npm run bench -- peak [--rounds 5] [--seconds 0.5]
 */
import * as os from 'os';
import { loadAddon, measurePeak } from '@altclip/native';

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: number) => {
    const i = args.indexOf(`--${name}`);
    if (i < 0) return dflt;
    const v = Number(args[i + 1]);
    if (!(v > 0)) throw new Error(`--${name} must be a positive number, got '${args[i + 1]}'`);
    return v;
  };
  for (const a of args) if (a.startsWith('--') && a !== '--rounds' && a !== '--seconds') throw new Error(`unknown argument '${a}' (--rounds N, --seconds S)`);
  const rounds = opt('rounds', 5), seconds = opt('seconds', 0.5);
  const { addon, why } = loadAddon();
  if (!addon) throw new Error(`peak bench needs the native addon: ${why}`);
  const all = addon.info().threads;
  const bf16 = addon.bf16Info();
  console.log(`peak ${new Date().toISOString()}  ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}  AVX512_BF16 ${bf16.native ? 'yes' : 'no'}  load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
  for (const kind of ['fp32', 'bf16'] as const) {
    for (const threads of all > 1 ? [1, all] : [1]) {
      const what = kind === 'fp32' ? 'fp32 FMA' : 'bf16 dot (vdpbf16ps)';
      if (kind === 'bf16' && !bf16.native) {
        console.log(`${what.padEnd(22)} ${threads} thread(s): not on this CPU (no AVX512_BF16); bf16 products would run emulated at the fp32 FMA rate`);
        continue;
      }
      const v: number[] = [];
      for (let r = 0; r < rounds; r++) v.push(measurePeak(kind, threads, seconds)!);
      console.log(`${what.padEnd(22)} ${threads} thread(s): ${median(v).toFixed(1)} GFLOP/s median (rounds ${v.map((x) => x.toFixed(0)).join(' ')})`);
    }
  }
}

main();
