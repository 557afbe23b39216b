import { CheckpointError } from './errors';

/**
 * A small pickle VM: the subset of protocol 2 (plus FRAME/MEMOIZE/STACK_GLOBAL from 4) that torch.save uses for
 * state dicts. Classes and persistent ids are resolved by the caller through `PickleHooks`, so nothing outside an
 * explicit allow-list can be constructed; any other opcode is an error naming it.
 */

/** Something REDUCE can call (the result of findClass). */
export interface PickleCallable {
  kind: 'callable';
  name: string;
  call(args: unknown[]): unknown;
}

export interface PickleHooks {
  /** Resolves GLOBAL/STACK_GLOBAL; throws for classes that are not allowed. */
  findClass(module: string, name: string): unknown;
  /** Resolves BINPERSID. */
  persistentLoad(pid: unknown): unknown;
  /** BUILD (set state) on an object; throws when not supported. */
  build(obj: unknown, state: unknown): void;
}

const NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

export function opcodeName(op: number): string {
  return `0x${op.toString(16).padStart(2, '0')} (${NAMES[op] ?? 'not a pickle opcode'})`;
}

/** Little-endian two's-complement integer of LONG1; a number when it is safe, else a bigint. */
function decodeLong(b: Buffer): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** The VM's state (stack, marks, memo, read position) and the reads and stack moves its opcodes share. */
class Machine {
  readonly stack: unknown[] = [];
  readonly marks: number[] = [];
  readonly memo = new Map<number, unknown>();
  p = 0;
  constructor(readonly where: string, readonly data: Buffer, readonly hooks: PickleHooks) {}

  fail(at: number, msg: string): never {
    throw new CheckpointError(this.where, `pickle: ${msg} (at byte ${at})`);
  }
  need(n: number, at: number): void {
    if (this.p + n > this.data.length) this.fail(at, `truncated: needs ${n} more bytes`);
  }
  push(v: unknown): void {
    this.stack.push(v);
  }
  pop(at: number): unknown {
    return this.stack.length ? this.stack.pop() : this.fail(at, 'stack underflow');
  }
  top(at: number): unknown {
    return this.stack.length ? this.stack[this.stack.length - 1] : this.fail(at, 'stack underflow');
  }
  popMark(at: number): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail(at, 'MARK expected');
    return this.stack.splice(m);
  }
  /** A newline-terminated latin1 line (GLOBAL's module and name). */
  line(at: number): string {
    const e = this.data.indexOf(0x0a, this.p);
    if (e < 0) this.fail(at, 'truncated: unterminated GLOBAL name');
    const s = this.data.toString('latin1', this.p, e);
    this.p = e + 1;
    return s;
  }
  setItems(at: number, d: unknown, kv: unknown[]): void {
    if (!(d instanceof Map)) this.fail(at, 'SETITEM(S) on a non-dict');
    for (let i = 0; i + 1 < kv.length; i += 2) d.set(kv[i], kv[i + 1]);
  }
  appendItems(at: number, l: unknown, items: unknown[]): void {
    if (!Array.isArray(l)) this.fail(at, 'APPEND(S) on a non-list');
    l.push(...items);
  }
  /** Unsigned little-endian integer of `n` (1, 2, 4 or 8) bytes, checked to be there. */
  uint(n: 1 | 2 | 4 | 8, at: number): number {
    this.need(n, at);
    const d = this.data;
    const v = n === 1 ? d[this.p] : n === 2 ? d.readUInt16LE(this.p) : n === 4 ? d.readUInt32LE(this.p) : Number(d.readBigUInt64LE(this.p));
    this.p += n;
    return v;
  }
  str(n: number, at: number): string {
    this.need(n, at);
    const s = this.data.toString('utf8', this.p, this.p + n);
    this.p += n;
    return s;
  }
  bytes(n: number, at: number): Buffer {
    this.need(n, at);
    const b = Buffer.from(this.data.subarray(this.p, this.p + n));
    this.p += n;
    return b;
  }
}

/** One opcode's effect on the machine; `at` is the opcode's byte offset (for errors). */
type Opcode = (m: Machine, at: number) => void;

const isCallable = (v: unknown): v is PickleCallable => !!v && (v as { kind?: unknown }).kind === 'callable';

/** Opcodes that build containers, move the stack and use the memo. */
const STRUCTURE_OPS: Record<number, Opcode> = {
  0x28: (m) => m.marks.push(m.stack.length), // MARK
  0x30: (m, at) => m.pop(at), // POP
  0x31: (m, at) => m.popMark(at), // POP_MARK
  0x32: (m, at) => m.push(m.top(at)), // DUP
  0x7d: (m) => m.push(new Map()), // EMPTY_DICT
  0x64: (m, at) => { // DICT
    const d = new Map();
    m.setItems(at, d, m.popMark(at));
    m.push(d);
  },
  0x5d: (m) => m.push([]), // EMPTY_LIST
  0x6c: (m, at) => m.push(m.popMark(at)), // LIST
  0x29: (m) => m.push([]), // EMPTY_TUPLE
  0x74: (m, at) => m.push(m.popMark(at)), // TUPLE
  0x85: (m, at) => m.push([m.pop(at)]), // TUPLE1
  0x86: (m, at) => { // TUPLE2
    const b = m.pop(at);
    m.push([m.pop(at), b]);
  },
  0x87: (m, at) => { // TUPLE3
    const c = m.pop(at);
    const b = m.pop(at);
    m.push([m.pop(at), b, c]);
  },
  0x71: (m, at) => m.memo.set(m.uint(1, at), m.top(at)), // BINPUT
  0x72: (m, at) => m.memo.set(m.uint(4, at), m.top(at)), // LONG_BINPUT
  0x94: (m, at) => m.memo.set(m.memo.size, m.top(at)), // MEMOIZE
  0x68: (m, at) => memoGet(m, at, m.uint(1, at)), // BINGET
  0x6a: (m, at) => memoGet(m, at, m.uint(4, at)), // LONG_BINGET
  0x61: (m, at) => { // APPEND
    const v = m.pop(at);
    m.appendItems(at, m.top(at), [v]);
  },
  0x65: (m, at) => { // APPENDS
    const items = m.popMark(at);
    m.appendItems(at, m.top(at), items);
  },
  0x73: (m, at) => { // SETITEM
    const v = m.pop(at);
    const k = m.pop(at);
    m.setItems(at, m.top(at), [k, v]);
  },
  0x75: (m, at) => { // SETITEMS
    const kv = m.popMark(at);
    m.setItems(at, m.top(at), kv);
  },
};

function memoGet(m: Machine, at: number, k: number): void {
  if (!m.memo.has(k)) m.fail(at, `memo key ${k} not found`);
  m.push(m.memo.get(k));
}

/** Opcodes that push a value read from the stream. */
const VALUE_OPS: Record<number, Opcode> = {
  0x58: (m, at) => m.push(m.str(m.uint(4, at), at)), // BINUNICODE
  0x8c: (m, at) => m.push(m.str(m.uint(1, at), at)), // SHORT_BINUNICODE
  0x8d: (m, at) => m.push(m.str(m.uint(8, at), at)), // BINUNICODE8
  // SHORT_BINSTRING (protocol-2 byte strings, decoded as latin1 like pickle's default)
  0x55: (m, at) => m.push(m.bytes(m.uint(1, at), at).toString('latin1')),
  0x43: (m, at) => m.push(m.bytes(m.uint(1, at), at)), // SHORT_BINBYTES
  0x42: (m, at) => m.push(m.bytes(m.uint(4, at), at)), // BINBYTES
  0x4a: (m, at) => { // BININT
    m.need(4, at);
    m.push(m.data.readInt32LE(m.p));
    m.p += 4;
  },
  0x4b: (m, at) => m.push(m.uint(1, at)), // BININT1
  0x4d: (m, at) => m.push(m.uint(2, at)), // BININT2
  0x8a: (m, at) => m.push(decodeLong(m.bytes(m.uint(1, at), at))), // LONG1
  0x47: (m, at) => { // BINFLOAT (big-endian)
    m.need(8, at);
    m.push(m.data.readDoubleBE(m.p));
    m.p += 8;
  },
  0x4e: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
};

/** Framing, and the opcodes that reach the caller's hooks (classes, calls, state, persistent ids). */
const CONTROL_OPS: Record<number, Opcode> = {
  0x80: (m, at) => { // PROTO
    const v = m.uint(1, at);
    if (v > 5) m.fail(at, `unsupported protocol ${v}`);
  },
  0x95: (m, at) => { // FRAME: only a length hint
    m.need(8, at);
    m.p += 8;
  },
  0x63: (m, at) => { // GLOBAL
    const module = m.line(at);
    m.push(m.hooks.findClass(module, m.line(at)));
  },
  0x93: (m, at) => { // STACK_GLOBAL
    const name = m.pop(at);
    const module = m.pop(at);
    if (typeof module !== 'string' || typeof name !== 'string') return m.fail(at, 'STACK_GLOBAL needs two strings');
    m.push(m.hooks.findClass(module, name));
  },
  0x52: (m, at) => { // REDUCE
    const args = m.pop(at);
    const fn = m.pop(at);
    if (!isCallable(fn)) return m.fail(at, `REDUCE on something that is not callable (${describe(fn)})`);
    if (!Array.isArray(args)) return m.fail(at, `REDUCE arguments of ${fn.name} are not a tuple`);
    m.push(fn.call(args));
  },
  0x62: (m, at) => { // BUILD
    const state = m.pop(at);
    m.hooks.build(m.top(at), state);
  },
  0x51: (m, at) => m.push(m.hooks.persistentLoad(m.pop(at))), // BINPERSID
};

const OPCODES = new Map<number, Opcode>(
  [STRUCTURE_OPS, VALUE_OPS, CONTROL_OPS].flatMap((t) => Object.entries(t).map(([k, f]) => [Number(k), f] as const)),
);
const STOP = 0x2e;

/** Runs the pickle in `data` and returns the object STOP leaves on the stack. `where` names it in errors. */
export function unpickle(where: string, data: Buffer, hooks: PickleHooks): unknown {
  const m = new Machine(where, data, hooks);
  for (;;) {
    const at = m.p;
    if (m.p >= data.length) m.fail(at, 'truncated: no STOP opcode');
    const op = data[m.p++];
    if (op === STOP) return m.pop(at);
    const run = OPCODES.get(op);
    if (!run) return m.fail(at, `unsupported opcode ${opcodeName(op)}`);
    run(m, at);
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return 'tuple/list';
  if (typeof v === 'object') {
    const kind = (v as { kind?: unknown }).kind;
    return kind == null ? 'object' : String(kind);
  }
  return typeof v;
}
