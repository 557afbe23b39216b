import type { CommandModule } from 'yargs';
import { setupBackend, backendInfo, BackendInfo, BackendName } from '@altclip/backend';
import { precisionInfoLines } from '@altclip/models';
import { backendOf, optionsFromArgv, withOptions } from '../options';

/** Human-readable lines for `altclip info` (exported for tests). */
export function formatInfo(info: BackendInfo, altclipVersion: string): string[] {
  const lines = [`backend:   ${info.backend}  (${info.reason})`];
  for (const s of info.skipped) lines.push(`  skipped ${s.name}: ${s.why}`);
  lines.push(`versions:  altclip ${altclipVersion}, ${Object.entries(info.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (info.wasm) {
    lines.push(`wasm:      SIMD ${info.wasm.simd ? 'yes' : 'no'}, ${info.wasm.threads} thread(s), heap ${info.wasm.heapMiB} MiB`);
    lines.push(`           (${info.wasm.note}; heap limit 4 GiB)`);
  }
  if (info.arena)
    lines.push(
      `memory of the native backend: tensors in native memory (no 4 GiB limit): ${info.arena.liveMiB} MiB live, peak ${info.arena.peakMiB} MiB, ${info.arena.cachedMiB} MiB of freed pages cached (cap ${info.arena.cacheCapMiB} MiB, ALTCLIP_ARENA_CACHE_MB), ${info.arena.reservedGiB} GiB address space reserved (ALTCLIP_ARENA_GB)`,
    );
  lines.push(`threads:   ${info.threads.backend ?? '?'} used by the backend, ${info.threads.cpus} CPUs`);
  lines.push(`kernels:   ${info.kernelsPatched.length ? `${info.kernelsPatched.length} added/replaced by @altclip/backend` : 'stock tfjs kernels (no patches applied)'}`);
  for (const k of info.kernelsPatched) lines.push(`  ${k.backend}/${k.kernel}: ${k.what}`);
  lines.push(`gradients: ${info.gradientsRegistered} registered`);
  lines.push(`native kernels: ${info.native.note}`);
  const m = info.memory;
  lines.push(`memory:    process RSS ${m.rssMiB} MiB (JS heap ${m.jsHeapMiB} MiB, tensors ${m.tfTensors} / ${m.tfMiB} MiB); system ${m.freeGiB} GiB free of ${m.totalGiB} GiB`);
  return lines;
}

export const infoCommand: CommandModule = {
  command: 'info',
  describe: 'Show the chosen TensorFlow.js backend and why, versions, threads, kernel patches and memory',
  builder: (y) => withOptions(y, 'info'),
  handler: async (argv) => {
    await setupBackend({ backend: backendOf(argv) as BackendName | 'auto' | undefined });
    const info = backendInfo();
    const version: string = require('../../package.json').version;
    if (optionsFromArgv('info', argv).json) {
      console.log(JSON.stringify({ altclip: version, ...info, precisions: precisionInfoLines() }, null, 2));
      return;
    }
    for (const l of formatInfo(info, version)) console.log(l);
    // What --precision amp_bf16 / bf16 compute in on this machine and backend.
    for (const l of precisionInfoLines()) console.log(l);
  },
};
