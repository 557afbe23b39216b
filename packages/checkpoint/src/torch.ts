import * as fs from 'fs';
import { CheckpointReader, DType, TensorData, TensorInfo } from './types';
import { readExactly } from './atomic';
import { CheckpointError } from './errors';
import { DTYPE_BYTES, checkReadable, decodeRaw, numel } from './dtypes';
import { PickleCallable, PickleHooks, describe, unpickle } from './pickle';
import { gatherStrided, isContiguous, viewSpan } from './view';
import { ZipEntry, readZipDirectory, zipDataOffset } from './zip';
import { openForRead } from './safetensors';

/** PyTorch storage class name (without "Storage"/"Tensor") -> dtype. */
const STORAGE_DTYPES: Record<string, DType> = {
  Float: 'F32', Half: 'F16', BFloat16: 'BF16', Double: 'F64', Long: 'I64', Int: 'I32', Short: 'I16', Char: 'I8', Byte: 'U8', Bool: 'BOOL',
};

interface StorageType { kind: 'storagetype'; dtype: DType }
interface StorageRef { kind: 'storage'; dtype: DType; key: string; numel: number }
interface TensorRef { kind: 'tensor'; storage: StorageRef; offset: number; shape: number[]; stride: number[] }

const LEGACY_MAGIC = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);

/** The zip signature ('PK\x03\x04') or the pickled magic number of torch's legacy (pre-1.6) format, else null. */
export function sniffTorch(head: Buffer): 'zip' | 'legacy' | null {
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip';
  if (head.length >= 4 && head.subarray(0, 4).equals(LEGACY_MAGIC.subarray(0, 4))) return 'legacy';
  return null;
}

const callable = (name: string, call: (args: unknown[]) => unknown): PickleCallable => ({ kind: 'callable', name, call });

function intList(file: string, what: string, v: unknown): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && x >= 0)) throw new CheckpointError(file, `pickle: ${what} must be a tuple of non-negative ints, got ${JSON.stringify(v)}`);
  return v as number[];
}

function rebuildTensor(file: string, args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args as [StorageRef, unknown, unknown, unknown];
  if (!storage || storage.kind !== 'storage') throw new CheckpointError(file, `pickle: _rebuild_tensor_v2 expects a storage, got ${describe(storage)}`);
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new CheckpointError(file, `pickle: bad storage offset ${offset}`);
  const shape = intList(file, 'tensor size', size);
  const st = intList(file, 'tensor stride', stride);
  if (shape.length !== st.length) throw new CheckpointError(file, `pickle: size [${shape}] and stride [${st}] differ in rank`);
  return { kind: 'tensor', storage, offset: offset as number, shape, stride: st };
}

/** The classes a state dict may contain; everything else is refused by name. */
function torchHooks(file: string): PickleHooks {
  return {
    findClass(module, name) {
      const full = `${module}.${name}`;
      if (full === 'collections.OrderedDict')
        return callable(full, (a) => new Map(Array.isArray(a[0]) ? (a[0] as unknown[]).filter(Array.isArray).map((kv) => [kv[0], kv[1]] as [unknown, unknown]) : []));
      if (full === 'torch._utils._rebuild_tensor_v2' || full === 'torch._utils._rebuild_tensor') return callable(full, (a) => rebuildTensor(file, a));
      // Parameters unpickle to their data; requires_grad and hooks do not matter for weights
      if (full === 'torch._utils._rebuild_parameter' || full === 'torch._utils._rebuild_parameter_with_state') return callable(full, (a) => a[0]);
      if (full === 'torch._tensor._rebuild_from_type_v2')
        return callable(full, (a) => {
          const [fn, , args] = a as [PickleCallable, unknown, unknown[]];
          if (!fn || fn.kind !== 'callable' || !Array.isArray(args)) throw new CheckpointError(file, 'pickle: bad _rebuild_from_type_v2 arguments');
          return fn.call(args);
        });
      if (full === 'torch.Tensor' || full === 'torch.nn.parameter.Parameter') return { kind: 'type', name: full };
      if (full === 'torch.storage._load_from_bytes')
        throw new CheckpointError(file, `unsupported class ${full}: storages pickled as bytes come from the legacy torch.save format; re-save with torch>=1.6 (torch.save(torch.load(f), f))`);
      const m = /^(?:torch|torch\.cuda)\.(\w+?)(Storage|Tensor)$/.exec(full);
      if (m && STORAGE_DTYPES[m[1]]) return { kind: 'storagetype', dtype: STORAGE_DTYPES[m[1]] } as StorageType;
      if (full === 'torch.UntypedStorage' || full === 'torch.storage.UntypedStorage') return { kind: 'storagetype', dtype: 'U8' } as StorageType;
      throw new CheckpointError(file, `pickle: unsupported class ${full} (only state dicts of tensors can be read)`);
    },
    persistentLoad(pid) {
      const [tag, type, key, , n] = (Array.isArray(pid) ? pid : []) as [unknown, StorageType, unknown, unknown, unknown];
      if (tag !== 'storage' || !type || type.kind !== 'storagetype' || (typeof key !== 'string' && typeof key !== 'number') || !Number.isSafeInteger(n))
        throw new CheckpointError(file, `pickle: unsupported persistent id ${JSON.stringify(pid)}; expected ('storage', <type>, key, location, numel)`);
      return { kind: 'storage', dtype: type.dtype, key: String(key), numel: n as number } as StorageRef;
    },
    build(obj, _state) {
      // OrderedDict state is the `_metadata` attribute of a state dict (module versions): not needed for weights
      if (obj instanceof Map) return;
      throw new CheckpointError(file, `pickle: BUILD on ${describe(obj)} is not supported`);
    },
  };
}

/** Opens a torch.save zip file (pytorch_model.bin); only data.pkl is read up front, tensors on demand. */
export async function openTorchBin(file: string): Promise<CheckpointReader> {
  const fh = await openForRead(file);
  try {
    const { buf: head } = await readExactly(fh, 16, 0);
    const kind = sniffTorch(head);
    if (kind === 'legacy')
      throw new CheckpointError(file, 'legacy (non-zip) torch.save format is not supported; re-save it with torch>=1.6: torch.save(torch.load(f), f)');
    if (kind !== 'zip') throw new CheckpointError(file, 'not a torch.save zip file (no zip signature)');
    const entries = await readZipDirectory(file, fh);
    const pkl = [...entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (!pkl) throw new CheckpointError(file, `no <prefix>/data.pkl in the zip (members: ${[...entries.keys()].slice(0, 5).join(', ')}...)`);
    const prefix = pkl.slice(0, -'data.pkl'.length);
    const order = entries.get(prefix + 'byteorder');
    if (order && (await readMember(file, fh, order)).toString() !== 'little') throw new CheckpointError(file, 'big-endian torch files are not supported');
    const root = unpickle(`${file} (${pkl})`, await readMember(file, fh, entries.get(pkl)!), torchHooks(file));
    if (!(root instanceof Map)) throw new CheckpointError(file, `data.pkl holds a ${describe(root)}, expected a state dict (dict of tensors)`);
    const tensors = new Map<string, TensorRef>();
    for (const [k, v] of root) {
      if (typeof k !== 'string') throw new CheckpointError(file, `state dict key ${String(k)} is not a string`);
      if (!v || (v as TensorRef).kind !== 'tensor')
        throw new CheckpointError(file, `state dict entry '${k}' is a ${describe(v)}, not a tensor (is this a training checkpoint? save model.state_dict() instead)`);
      checkView(file, k, v as TensorRef, entries.get(`${prefix}data/${(v as TensorRef).storage.key}`));
      tensors.set(k, v as TensorRef);
    }
    return new TorchReader(file, fh, tensors, entries, prefix);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

async function readMember(file: string, fh: fs.promises.FileHandle, e: ZipEntry): Promise<Buffer> {
  const at = await zipDataOffset(file, fh, e);
  const { buf, got } = await readExactly(fh, e.size, at);
  if (got !== e.size) throw new CheckpointError(file, `truncated zip: member '${e.name}' needs ${e.size} bytes at ${at}, got ${got}`);
  return buf;
}

function checkView(file: string, key: string, t: TensorRef, member: ZipEntry | undefined): void {
  const es = DTYPE_BYTES[t.storage.dtype];
  if (!member) throw new CheckpointError(file, `tensor '${key}': storage data/${t.storage.key} is missing from the zip`);
  if (member.size < t.storage.numel * es)
    throw new CheckpointError(file, `tensor '${key}': storage data/${t.storage.key} has ${member.size} bytes, expected ${t.storage.numel} x ${es}`);
  const { hi } = viewSpan(t.offset, t.shape, t.stride);
  if (hi > t.storage.numel)
    throw new CheckpointError(file, `tensor '${key}': view (offset ${t.offset}, size [${t.shape}], stride [${t.stride}]) reaches element ${hi - 1} of a ${t.storage.numel}-element storage`);
}

class TorchReader implements CheckpointReader {
  readonly format = 'pytorch' as const;
  readonly metadata: Record<string, string> = {};
  private offsets = new Map<string, number>(); // storage key -> absolute data offset
  constructor(readonly path: string, private fh: fs.promises.FileHandle, private tensors: Map<string, TensorRef>,
    private entries: Map<string, ZipEntry>, private prefix: string) {}
  keys(): string[] {
    return [...this.tensors.keys()];
  }
  has(key: string): boolean {
    return this.tensors.has(key);
  }
  info(key: string): TensorInfo {
    const t = this.tensor(key);
    return { dtype: t.storage.dtype, shape: [...t.shape] };
  }
  /** Reads only the storage bytes the view spans, then makes them contiguous if the view is strided. */
  async read(key: string): Promise<TensorData> {
    const t = this.tensor(key);
    const es = DTYPE_BYTES[t.storage.dtype];
    const { lo, hi } = viewSpan(t.offset, t.shape, t.stride);
    checkReadable(this.path, key, (hi - lo) * es);
    const base = await this.storageOffset(t.storage.key);
    const { buf, got } = await readExactly(this.fh, (hi - lo) * es, base + lo * es);
    if (got !== buf.length) throw new CheckpointError(this.path, `tensor '${key}': short read (${got} of ${buf.length} bytes); file truncated?`);
    const raw = isContiguous(t.shape, t.stride) ? buf : gatherStrided(buf, es, 0, t.shape, t.stride);
    return decodeRaw(this.path, key, t.storage.dtype, [...t.shape], raw.subarray(0, numel(t.shape) * es), true);
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
  private async storageOffset(skey: string): Promise<number> {
    let off = this.offsets.get(skey);
    if (off === undefined) {
      off = await zipDataOffset(this.path, this.fh, this.entries.get(`${this.prefix}data/${skey}`)!);
      this.offsets.set(skey, off);
    }
    return off;
  }
  private tensor(key: string): TensorRef {
    const t = this.tensors.get(key);
    if (!t) throw new CheckpointError(this.path, `no tensor named '${key}'`);
    return t;
  }
}
