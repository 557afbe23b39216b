/**
 * The `native` TensorFlow.js backend: tensors live in native memory (the addon's arena, csrc/arena.h), outside both
 * the V8 heap and the 4 GiB wasm32 address space, and are freed the moment tfjs disposes them.
 *
 * It is the `cpu` backend (MathBackendCPU) with different storage: a tensor's `values` is a typed-array view into
 * the arena, so every stock cpu kernel still works on it as a fallback, while the native kernels (kernels.ts, and
 * the arena-only ones) receive byte offsets and compute in place. Which cpu kernels actually ran is counted
 * (`fallbackKernelUse()`): a training step is meant to run none of them.
 */
import * as os from 'os';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendValues, DataType, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { ArenaStats, NativeAddon } from './addon';
import type { KernelHost } from './heap';
import { settingError } from './broadcast';

export const ARENA_BACKEND = 'native';
const SEGMENT = 2 ** 32;
const BYTES_PER: Partial<Record<DataType, number>> = { float32: 4, int32: 4, bool: 1 };
type NumericArray = Float32Array | Int32Array | Uint8Array;

function viewOf(buffer: ArrayBuffer, byteOffset: number, length: number, dtype: DataType): NumericArray {
  if (dtype === 'float32') return new Float32Array(buffer, byteOffset, length);
  if (dtype === 'int32') return new Int32Array(buffer, byteOffset, length);
  return new Uint8Array(buffer, byteOffset, length);
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

/** A tensor's data in the arena. `values` (a view) is made only when JS code asks for it. */
class ArenaData {
  refCount = 1;
  private view?: NumericArray;
  constructor(
    private readonly backend: ArenaBackend,
    readonly dtype: DataType,
    readonly offset: number,
    readonly length: number,
  ) {}
  get values(): NumericArray {
    if (this.offset < 0) throw new Error('native backend: read of a freed tensor');
    return (this.view ??= this.backend.view(this.offset, this.length, this.dtype));
  }
  freed(): void {
    this.view = undefined;
    (this as { offset: number }).offset = -1;
  }
}


/** The largest reservation ALTCLIP_ARENA_GB may ask for: 64 TiB. */
export const MAX_ARENA_GB = 64 * 1024;

/** The reservation: ALTCLIP_ARENA_GB, else twice RAM + swap (address space only; pages are committed on use). */
export function defaultArenaBytes(): number {
  const env = process.env.ALTCLIP_ARENA_GB;
  if (env !== undefined && env !== '') {
    const gb = Number(env);
    if (!(gb > 0)) throw settingError(`ALTCLIP_ARENA_GB must be a positive number of GiB, got '${env}'`);
    // x86-64 and arm64 processes have 128 TiB of user address space; the reservation must fit in half of it.
    if (gb > MAX_ARENA_GB) throw settingError(`ALTCLIP_ARENA_GB must be at most ${MAX_ARENA_GB} GiB (the address space a process can reserve), got '${env}'`);
    return Math.ceil(gb * 2 ** 30);
  }
  let swap = 0;
  try {
    const m = /SwapTotal:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) swap = Number(m[1]) * 1024;
  } catch {
    // not Linux: RAM only
  }
  return Math.max(8 * 2 ** 30, 2 * (os.totalmem() + swap));
}

/**
 * Freed pages kept resident for reuse (ALTCLIP_ARENA_CACHE_MB, default a quarter of RAM). Re-touching released
 * pages costs a page fault and a kernel zero-fill per 4 KiB: with a small cache a BERT-base training step spent
 * two thirds of its time there. Like glibc's heap under PyTorch, the cache is bounded by the peak of live memory
 * in practice, because freed blocks are reused first.
 */
export function arenaCacheBytes(): number {
  const env = process.env.ALTCLIP_ARENA_CACHE_MB;
  if (env === undefined || env === '') return Math.floor(os.totalmem() / 4);
  const mb = Number(env);
  if (!(mb >= 0)) throw settingError(`ALTCLIP_ARENA_CACHE_MB must be a non-negative number of MiB, got '${env}'`);
  return Math.round(mb * 2 ** 20);
}

export class ArenaBackend extends MathBackendCPU {
  readonly isArenaBackend = true as const;
  readonly kernelHost: KernelHost;
  private readonly segments: ArrayBuffer[] = [];
  private nextId = 0;

  constructor(private readonly addon: NativeAddon, arenaBytes = defaultArenaBytes()) {
    super();
    (this as unknown as { firstUse: boolean }).firstUse = false; // no "install tfjs-node" banner: we chose this backend
    try {
      addon.arenaInit(arenaBytes);
    } catch (e) {
      // The system refused the reservation: with ALTCLIP_ARENA_GB set that is the user's setting to change, not a
      // reason to fall back to another backend quietly.
      if (process.env.ALTCLIP_ARENA_GB) throw settingError(`ALTCLIP_ARENA_GB=${process.env.ALTCLIP_ARENA_GB}: ${(e as Error).message}; choose a smaller reservation`);
      throw e;
    }
    addon.arenaControl(1, arenaCacheBytes());
    this.kernelHost = {
      heap: () => null,
      offset: (t) => this.offsetOf(t),
      output: (shape, dtype) => this.makeTensorInfo(shape, dtype),
      release: (t) => void this.disposeData(t.dataId),
    };
  }

  view(offset: number, length: number, dtype: DataType): NumericArray {
    const seg = Math.floor(offset / SEGMENT);
    const buffer = (this.segments[seg] ??= this.addon.arenaSegment(seg));
    return viewOf(buffer, offset - seg * SEGMENT, length, dtype);
  }

  /** Byte offset of a tensor's data in the arena (what native kernels take). */
  offsetOf(t: TensorInfo): number {
    const d = this.data.get(t.dataId) as unknown;
    if (!(d instanceof ArenaData)) throw new Error(`native backend: tensor [${t.shape}] (${t.dtype}) is not stored in the arena`);
    return d.offset;
  }

  private allocate(length: number, dtype: DataType): ArenaData {
    const bytes = length * BYTES_PER[dtype]!;
    if (bytes > SEGMENT) throw new Error(`native backend: one tensor of ${gib(bytes)} is over the 4 GiB a tensor may have`);
    const offset = this.addon.arenaAlloc(bytes);
    if (offset < 0) {
      const s = this.addon.arenaStats();
      throw new Error(`native backend: out of memory allocating ${gib(bytes)} (${gib(s.live)} live in a ${gib(s.reserved)} reservation; set ALTCLIP_ARENA_GB to reserve more)`);
    }
    return new ArenaData(this, dtype, offset, length);
  }

  override write(values: BackendValues | null, shape: number[], dtype: DataType): object {
    if (!BYTES_PER[dtype]) return super.write(values as BackendValues, shape, dtype); // strings, complex64: JS memory
    const length = shape.reduce((a, b) => a * b, 1);
    const d = this.allocate(length, dtype);
    if (values != null) {
      if ((values as ArrayLike<number>).length !== length)
        throw new Error(`native backend: ${(values as ArrayLike<number>).length} values written to a tensor of shape [${shape}]`);
      d.values.set(values as ArrayLike<number>);
    }
    const dataId = { id: this.nextId++ };
    this.data.set(dataId, d as never);
    return dataId;
  }

  override move(dataId: object, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    if (!BYTES_PER[dtype]) return super.move(dataId, values, shape, dtype, refCount);
    const length = shape.reduce((a, b) => a * b, 1);
    const d = this.allocate(length, dtype);
    d.values.set(values as ArrayLike<number>);
    d.refCount = refCount;
    this.data.set(dataId, d as never);
  }

  /** A copy: the arena block is reused once the tensor is disposed, so callers never get a view of it. */
  override readSync(dataId: object): BackendValues {
    const d = this.data.get(dataId) as unknown;
    if (d instanceof ArenaData) return d.values.slice();
    return super.readSync(dataId);
  }

  override disposeData(dataId: object, force = false): boolean {
    if (!this.data.has(dataId)) return true;
    const d = this.data.get(dataId) as unknown;
    if (!(d instanceof ArenaData)) return super.disposeData(dataId, force);
    d.refCount--;
    if (!force && d.refCount > 0) return false;
    this.addon.arenaFree(d.offset);
    d.freed();
    this.data.delete(dataId);
    return true;
  }

  override memory(): { unreliable: boolean; reasons: string[]; numBytesInArena: number; peakBytesInArena: number; arena: ArenaStats } {
    const s = this.addon.arenaStats();
    return { unreliable: false, reasons: [], numBytesInArena: s.live, peakBytesInArena: s.peakLive, arena: s };
  }

  arenaStats(): ArenaStats {
    return this.addon.arenaStats();
  }

  /** Returns every cached free page to the OS (RSS falls to what live tensors use). */
  trim(): void {
    this.addon.arenaControl(2, 0);
  }

  /** Starts a new peak measurement (arenaStats().peakLive). */
  resetPeak(): void {
    this.addon.arenaControl(0, 0);
  }

  override dispose(): void {
    // Tensors still alive keep their blocks; the arena itself lives as long as the process.
  }
}

/** Kernels that only move references (no data is read or written): not counted as fallbacks. */
const BOOKKEEPING = new Set(['Reshape', 'Identity']);
const fallbackUse = new Map<string, { calls: number; ms: number }>();

/** The stock cpu kernels that ran on the native backend since the last reset (name -> calls, time). */
export function fallbackKernelUse(reset = false): Map<string, { calls: number; ms: number }> {
  const out = new Map(fallbackUse);
  if (reset) fallbackUse.clear();
  return out;
}

function counted(name: string, f: KernelFunc): KernelFunc {
  if (BOOKKEEPING.has(name)) return f;
  return (args) => {
    const t0 = performance.now();
    const r = f(args);
    const u = fallbackUse.get(name) ?? { calls: 0, ms: 0 };
    u.calls++;
    u.ms += performance.now() - t0;
    fallbackUse.set(name, u);
    return r;
  };
}

/**
 * Registers the `native` backend (priority above wasm) with every cpu kernel as a counted fallback. The native
 * kernels go on top with registerKernels(addon, undefined, 'native'). Idempotent.
 */
export function registerArenaBackend(addon: NativeAddon, priority = 3): void {
  if (tf.findBackendFactory(ARENA_BACKEND) != null) return;
  for (const k of tf.getKernelsForBackend('cpu') as KernelConfig[]) {
    if (tf.getKernel(k.kernelName, ARENA_BACKEND)) continue;
    tf.registerKernel({ ...k, backendName: ARENA_BACKEND, kernelFunc: counted(k.kernelName, k.kernelFunc) });
  }
  tf.registerBackend(ARENA_BACKEND, () => new ArenaBackend(addon), priority);
}
