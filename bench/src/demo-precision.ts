/**
 * The demo's accuracy in a precision against fp32: runs `altclip demo`'s three trainings and evaluations through the
 * library (@altclip/cli's runDemo), once in fp32 and once inside getPrecision(--precision).autocast, each in its own
 * folder, and prints both zero-shot tables and the largest difference per column (issue 21's target: within 1.0
 * point in every zero-shot column for amp_bf16). Where this CPU lacks AVX512_BF16 amp_bf16 computes in fp32 (the
 * tables then match trivially); ALTCLIP_NATIVE_BF16=emulate runs the bf16 products emulated instead (same values as
 * vdpbf16ps, float32 speed), which is what this check needs on such a CPU.
 *
 *   ALTCLIP_NATIVE_BF16=emulate npm run bench -- demo-precision [--precision amp_bf16] [--fast] [--out DIR]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { getPrecision } from '@altclip/models';

interface Row {
  model: string;
  zeroShot: { en: number; zh: number };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const get = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const precision = getPrecision(get('--precision') ?? 'amp_bf16');
  const fast = args.includes('--fast');
  const out = get('--out') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'demo-precision-'));
  // runDemo is the demo command's library entry (packages/cli/src/demo/run.ts).
  const { runDemo } = require('@altclip/cli/dist/demo/run') as { runDemo(o: { out: string; fast: boolean; progress: boolean; log: (l: string) => void }): Promise<{ rows: Row[]; table: string; wallSeconds: number }> };
  await setupBackend();
  console.log(`demo-precision ${new Date().toISOString()}: ${precision.support().line}; load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const results: Record<string, { rows: Row[]; table: string; wallSeconds: number }> = {};
  for (const p of [getPrecision('fp32'), precision]) {
    const dir = path.join(out, p.name);
    const quiet = (l: string) => (/^(stage|demo|wall)/.test(l) ? console.log(`[${p.name}] ${l}`) : undefined);
    results[p.name] = await p.autocast(() => runDemo({ out: dir, fast, progress: false, log: quiet }));
    console.log(`[${p.name}] ${(results[p.name].wallSeconds / 60).toFixed(1)} min\n${results[p.name].table}`);
  }
  const a = results.fp32.rows, b = results[precision.name].rows;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    for (const lang of ['en', 'zh'] as const) {
      const d = 100 * Math.abs(a[i].zeroShot[lang] - b[i].zeroShot[lang]);
      worst = Math.max(worst, d);
      console.log(`${a[i].model.padEnd(22)} zero-shot ${lang}: fp32 ${(100 * a[i].zeroShot[lang]).toFixed(1)}, ${precision.name} ${(100 * b[i].zeroShot[lang]).toFixed(1)}, |diff| ${d.toFixed(1)} points`);
    }
  }
  console.log(`RESULT demo-precision ${precision.name}: largest zero-shot difference from fp32 ${worst.toFixed(1)} points (target <= 1.0); runs in ${out}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
