import * as fs from 'fs';
import * as path from 'path';
import { Collective, LocalCollective, NumericBuffer } from './collective';

/** The compiled binding (csrc/mpi_addon.cc). Sync calls return the seconds spent in MPI; async ones a Promise of it. */
interface MpiAddon {
  init(timeoutS: number): { rank: number; size: number; threadLevel: number; threadMultiple: number; library: string; host: string };
  allreduce(buf: NumericBuffer, label: string, async: boolean): number | Promise<number>;
  allgatherv(send: Float32Array, recv: Float32Array, counts: Int32Array, label: string, async: boolean): number | Promise<number>;
  bcast(buf: NumericBuffer | Uint8Array | Int32Array, root: number, label: string, async: boolean): number | Promise<number>;
  barrier(label: string, async: boolean): number | Promise<number>;
  setTimeout(seconds: number): void;
  abort(message: string, code: number): never;
  finalize(): void;
  stats(): { seconds: number; bytes: number; ops: number };
}

export const MPI_HINT = 'install Open MPI (Debian/Ubuntu: apt-get install -y openmpi-bin libopenmpi-dev), then run: npm rebuild @altclip/mpi';

/**
 * Default seconds a collective may wait for the slowest rank before the job is ended (ALTCLIP_MPI_TIMEOUT overrides).
 * While rank 0 writes a checkpoint the others wait in their next collective, so this must exceed the longest
 * checkpoint write: AltCLIP-L with its AdamW moments is ~10.4 GB, 10 minutes allows 17 MB/s (docs/data-parallel.md).
 */
export const DEFAULT_TIMEOUT_S = 600;

/** Which launcher started this process as one of several ranks, or undefined for a plain process. */
export function mpiLauncher(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.OMPI_COMM_WORLD_SIZE !== undefined) return `Open MPI's mpirun (OMPI_COMM_WORLD_SIZE=${env.OMPI_COMM_WORLD_SIZE})`;
  if (env.PMIX_RANK !== undefined) return `a PMIx launcher (PMIX_RANK=${env.PMIX_RANK})`;
  if (env.PMI_SIZE !== undefined) return `a PMI launcher (PMI_SIZE=${env.PMI_SIZE})`;
  if (env.SLURM_PROCID !== undefined && Number(env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS ?? 1) > 1)
    return `srun (SLURM_STEP_NUM_TASKS=${env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS})`;
  return undefined;
}

/**
 * This process's rank as the launcher set it (0 for a plain process), read before (or without) MPI starting: for
 * deciding who prints what is said once per job, such as the backend line.
 */
export function launcherRank(env: NodeJS.ProcessEnv = process.env): number {
  if (!mpiLauncher(env)) return 0;
  for (const k of ['OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK', 'SLURM_PROCID']) if (env[k] !== undefined) return Number(env[k]);
  return 0;
}

/** The launcher's idea of the world size (before MPI starts), for the error when the binding is missing. */
function launcherSize(env: NodeJS.ProcessEnv): number {
  for (const k of ['OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'SLURM_STEP_NUM_TASKS', 'SLURM_NTASKS']) if (env[k] !== undefined) return Number(env[k]);
  return 0; // PMIx: unknown before init
}

let addon: MpiAddon | null | undefined;
let why = '';

/** The compiled binding, or null (see `mpiUnavailableReason`). */
export function loadMpiAddon(): MpiAddon | null {
  if (addon !== undefined) return addon;
  const file = path.join(__dirname, '..', 'build', 'Release', 'altclip_mpi.node');
  if (!fs.existsSync(file)) {
    why = `@altclip/mpi is not built (no ${file}); ${MPI_HINT}`;
    return (addon = null);
  }
  try {
    addon = require(file) as MpiAddon;
  } catch (e) {
    why = `cannot load ${file}: ${(e as Error).message.split('\n')[0]}; ${MPI_HINT}`;
    addon = null;
  }
  return addon;
}

export function mpiUnavailableReason(): string {
  loadMpiAddon();
  return why;
}

function timeoutFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env.ALTCLIP_MPI_TIMEOUT;
  if (raw === undefined || raw === '') return DEFAULT_TIMEOUT_S;
  const n = Number(raw);
  if (!(n > 0)) throw new Error(`ALTCLIP_MPI_TIMEOUT must be a positive number of seconds, got '${raw}'`);
  return n;
}

/** Collectives over MPI_COMM_WORLD through the binding's communication thread (one per process). */
export class MpiCollective implements Collective {
  readonly rank: number;
  readonly size: number;
  readonly description: string;
  readonly threadMultiple: boolean;
  private finalized = false;

  constructor(
    private readonly a: MpiAddon,
    timeoutS: number,
  ) {
    const info = a.init(timeoutS);
    this.rank = info.rank;
    this.size = info.size;
    this.threadMultiple = info.threadLevel >= info.threadMultiple;
    const lib = info.library.split('\n')[0].replace(/,.*$/, '').trim();
    this.description = `${lib}, ${info.size} ranks (rank ${info.rank} on ${info.host})${this.threadMultiple ? '' : ', no MPI_THREAD_MULTIPLE: a hung rank is not named'}`;
    // Normal exits finalise MPI (Open MPI reports a process that exits without it as a failure).
    process.once('exit', () => this.finalize());
  }

  allreduce(buf: NumericBuffer, label: string): void {
    this.a.allreduce(buf, label, false);
  }
  async allreduceAsync(buf: NumericBuffer, label: string): Promise<void> {
    await this.a.allreduce(buf, label, true);
  }
  allgatherv(local: Float32Array, counts: number[], label: string): Float32Array {
    if (counts.length !== this.size) throw new Error(`${label}: ${counts.length} counts for ${this.size} ranks`);
    if (counts[this.rank] !== local.length) throw new Error(`${label}: rank ${this.rank} sends ${local.length} elements, counts say ${counts[this.rank]}`);
    const out = new Float32Array(counts.reduce((s, c) => s + c, 0));
    this.a.allgatherv(local, out, Int32Array.from(counts), label, false);
    return out;
  }
  broadcast(buf: NumericBuffer | Uint8Array | Int32Array, root: number, label: string): void {
    this.a.bcast(buf, root, label, false);
  }
  async barrier(label: string): Promise<void> {
    await this.a.barrier(label, true);
  }
  abort(message: string, code = 1): never {
    return this.a.abort(message, code);
  }
  stats() {
    return this.a.stats();
  }
  setTimeout(seconds: number): void {
    this.a.setTimeout(seconds);
  }
  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    this.a.finalize();
  }
}

let world: Collective | undefined;

/**
 * The collective of this process, created once: MPI when a launcher (mpirun, srun, PMIx/PMI) started it, one process
 * otherwise. A launcher with several ranks but no built binding is an error: N copies of a one-process run would
 * each train on all the data and overwrite each other's run folder.
 */
export function worldCollective(env: NodeJS.ProcessEnv = process.env): Collective {
  if (world) return world;
  const launcher = mpiLauncher(env);
  if (!launcher) return (world = new LocalCollective());
  const a = loadMpiAddon();
  if (!a) {
    if (launcherSize(env) === 1) return (world = new LocalCollective());
    throw new Error(`started by ${launcher}, but the MPI binding is unavailable: ${why}`);
  }
  return (world = new MpiCollective(a, timeoutFromEnv(env)));
}
