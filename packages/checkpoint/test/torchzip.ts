/**
 * Test-only writers for hand-made torch.save files: a STORED zip (optionally zip64) and a pickle emitter. They are
 * deliberately independent of the reader code so that the reader is checked against a second implementation.
 */

function crc32(b: Buffer): number {
  let c = ~0;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

export function makeZip(files: Array<{ name: string; data: Buffer }>, opts: { zip64?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let pos = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const pad = Buffer.alloc(7, 0); // an odd-sized local extra field, as torch pads members for alignment
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(opts.zip64 ? 45 : 20, 4);
    local.writeUInt32LE(crc32(f.data), 14);
    local.writeUInt32LE(f.data.length, 18);
    local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(pad.length, 28);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(45, 4);
    cd.writeUInt16LE(45, 6);
    cd.writeUInt32LE(crc32(f.data), 16);
    let extra = Buffer.alloc(0);
    if (opts.zip64) {
      cd.writeUInt32LE(0xffffffff, 20);
      cd.writeUInt32LE(0xffffffff, 24);
      cd.writeUInt32LE(0xffffffff, 42);
      extra = Buffer.alloc(28);
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(f.data.length), 4);
      extra.writeBigUInt64LE(BigInt(f.data.length), 12);
      extra.writeBigUInt64LE(BigInt(pos), 20);
    } else {
      cd.writeUInt32LE(f.data.length, 20);
      cd.writeUInt32LE(f.data.length, 24);
      cd.writeUInt32LE(pos, 42);
    }
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt16LE(extra.length, 30);
    central.push(cd, name, extra);
    parts.push(local, name, pad, f.data);
    pos += local.length + name.length + pad.length + f.data.length;
  }
  const cdBuf = Buffer.concat(central);
  const cdOffset = pos;
  const tail: Buffer[] = [cdBuf];
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  if (opts.zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(files.length), 24);
    rec.writeBigUInt64LE(BigInt(files.length), 32);
    rec.writeBigUInt64LE(BigInt(cdBuf.length), 40);
    rec.writeBigUInt64LE(BigInt(cdOffset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(cdOffset + cdBuf.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
    eocd.writeUInt16LE(0xffff, 8);
    eocd.writeUInt16LE(0xffff, 10);
    eocd.writeUInt32LE(0xffffffff, 12);
    eocd.writeUInt32LE(0xffffffff, 16);
  } else {
    eocd.writeUInt16LE(files.length, 8);
    eocd.writeUInt16LE(files.length, 10);
    eocd.writeUInt32LE(cdBuf.length, 12);
    eocd.writeUInt32LE(cdOffset, 16);
  }
  tail.push(eocd);
  return Buffer.concat([...parts, ...tail]);
}

/** Emits pickle opcodes. */
export class PickleWriter {
  private out: number[] = [];
  op(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    return this.op(0x58, ...n, ...b); // BINUNICODE
  }
  int(v: number): this {
    if (v >= 0 && v < 256) return this.op(0x4b, v); // BININT1
    if (v >= 0 && v < 65536) return this.op(0x4d, v & 0xff, v >> 8); // BININT2
    if (v >= -(2 ** 31) && v < 2 ** 31) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v);
      return this.op(0x4a, ...b); // BININT
    }
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(v));
    return this.op(0x8a, 8, ...b); // LONG1
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  intTuple(v: number[]): this {
    this.mark();
    v.forEach((x) => this.int(x));
    return this.tuple();
  }
  bytes(): Buffer {
    return Buffer.from(this.out);
  }
}

export interface ViewSpec {
  key: string;
  storageType: string; // e.g. 'FloatStorage'
  storageKey: string;
  storageNumel: number;
  offset: number;
  shape: number[];
  stride: number[];
}

/** A state-dict pickle the way torch.save writes one (OrderedDict + _metadata BUILD, optional Parameters). */
export function stateDictPickle(views: ViewSpec[], opts: { ordered?: boolean; parameters?: boolean; storageModule?: string } = {}): Buffer {
  const w = new PickleWriter().op(0x80, 2);
  const emptyOrderedDict = () => w.global('collections', 'OrderedDict').op(0x29, 0x52); // EMPTY_TUPLE REDUCE
  if (opts.ordered) emptyOrderedDict();
  else w.op(0x7d); // EMPTY_DICT
  w.op(0x71, 0).mark(); // BINPUT 0, MARK
  for (const v of views) {
    w.str(v.key);
    if (opts.parameters) w.global('torch._utils', '_rebuild_parameter').mark();
    w.global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global(opts.storageModule ?? 'torch', v.storageType).str(v.storageKey).str('cpu').int(v.storageNumel).tuple();
    w.op(0x51); // BINPERSID
    w.int(v.offset).intTuple(v.shape).intTuple(v.stride).op(0x89); // NEWFALSE
    emptyOrderedDict();
    w.tuple().op(0x52); // TUPLE REDUCE
    if (opts.parameters) {
      w.op(0x89);
      emptyOrderedDict();
      w.tuple().op(0x52);
    }
  }
  w.op(0x75); // SETITEMS
  if (opts.ordered) {
    // BUILD with {'_metadata': OrderedDict()} as torch state dicts carry
    w.op(0x7d).str('_metadata');
    emptyOrderedDict();
    w.op(0x73, 0x62); // SETITEM BUILD
  }
  return w.op(0x2e).bytes(); // STOP
}

/** A torch.save-like zip: <prefix>/data.pkl, <prefix>/byteorder, <prefix>/data/<key> per storage. */
export function torchZip(pkl: Buffer, storages: Record<string, Buffer>, opts: { zip64?: boolean; prefix?: string } = {}): Buffer {
  const prefix = opts.prefix ?? 'archive';
  const files = [
    { name: `${prefix}/data.pkl`, data: pkl },
    { name: `${prefix}/byteorder`, data: Buffer.from('little') },
    ...Object.entries(storages).map(([k, data]) => ({ name: `${prefix}/data/${k}`, data })),
    { name: `${prefix}/version`, data: Buffer.from('3\n') },
  ];
  return makeZip(files, opts);
}
