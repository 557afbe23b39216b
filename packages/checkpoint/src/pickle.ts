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

/** Runs the pickle in `data` and returns the object STOP leaves on the stack. `where` names it in errors. */
export function unpickle(where: string, data: Buffer, hooks: PickleHooks): unknown {
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const fail = (at: number, msg: string): never => {
    throw new CheckpointError(where, `pickle: ${msg} (at byte ${at})`);
  };
  const need = (n: number, at: number) => {
    if (p + n > data.length) fail(at, `truncated: needs ${n} more bytes`);
  };
  const pop = (at: number): unknown => (stack.length ? stack.pop() : fail(at, 'stack underflow'));
  const top = (at: number): unknown => (stack.length ? stack[stack.length - 1] : fail(at, 'stack underflow'));
  const popMark = (at: number): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail(at, 'MARK expected');
    return stack.splice(m!);
  };
  const line = (at: number): string => {
    const e = data.indexOf(0x0a, p);
    if (e < 0) fail(at, 'truncated: unterminated GLOBAL name');
    const s = data.toString('latin1', p, e);
    p = e + 1;
    return s;
  };
  const setItems = (at: number, d: unknown, kv: unknown[]) => {
    if (!(d instanceof Map)) fail(at, 'SETITEM(S) on a non-dict');
    for (let i = 0; i + 1 < kv.length; i += 2) (d as Map<unknown, unknown>).set(kv[i], kv[i + 1]);
  };
  const appendItems = (at: number, l: unknown, items: unknown[]) => {
    if (!Array.isArray(l)) fail(at, 'APPEND(S) on a non-list');
    (l as unknown[]).push(...items);
  };
  const str = (n: number, at: number) => {
    need(n, at);
    const s = data.toString('utf8', p, p + n);
    p += n;
    return s;
  };
  const bytes = (n: number, at: number) => {
    need(n, at);
    const b = Buffer.from(data.subarray(p, p + n));
    p += n;
    return b;
  };

  for (;;) {
    const at = p;
    if (p >= data.length) fail(at, 'truncated: no STOP opcode');
    const op = data[p++];
    switch (op) {
      case 0x80: // PROTO
        need(1, at);
        if (data[p] > 5) fail(at, `unsupported protocol ${data[p]}`);
        p += 1;
        break;
      case 0x95: // FRAME: only a length hint
        need(8, at);
        p += 8;
        break;
      case 0x2e: // STOP
        return pop(at);
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop(at);
        break;
      case 0x31: // POP_MARK
        popMark(at);
        break;
      case 0x32: // DUP
        stack.push(top(at));
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const d = new Map();
        setItems(at, d, popMark(at));
        stack.push(d);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark(at));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark(at));
        break;
      case 0x85: // TUPLE1
        stack.push([pop(at)]);
        break;
      case 0x86: { // TUPLE2
        const b = pop(at);
        stack.push([pop(at), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(at);
        const b = pop(at);
        stack.push([pop(at), b, c]);
        break;
      }
      case 0x71: // BINPUT
        need(1, at);
        memo.set(data[p++], top(at));
        break;
      case 0x72: // LONG_BINPUT
        need(4, at);
        memo.set(data.readUInt32LE(p), top(at));
        p += 4;
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top(at));
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const n = op === 0x68 ? 1 : 4;
        need(n, at);
        const k = n === 1 ? data[p] : data.readUInt32LE(p);
        p += n;
        if (!memo.has(k)) fail(at, `memo key ${k} not found`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line(at);
        stack.push(hooks.findClass(module, line(at)));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(at);
        const module = pop(at);
        if (typeof module !== 'string' || typeof name !== 'string') fail(at, 'STACK_GLOBAL needs two strings');
        stack.push(hooks.findClass(module as string, name as string));
        break;
      }
      case 0x58: // BINUNICODE
        need(4, at);
        p += 4;
        stack.push(str(data.readUInt32LE(p - 4), at));
        break;
      case 0x8c: // SHORT_BINUNICODE
        need(1, at);
        stack.push(str(data[p++], at));
        break;
      case 0x8d: // BINUNICODE8
        need(8, at);
        p += 8;
        stack.push(str(Number(data.readBigUInt64LE(p - 8)), at));
        break;
      case 0x55: // SHORT_BINSTRING (protocol-2 byte strings, decoded as latin1 like pickle's default)
        need(1, at);
        stack.push(bytes(data[p++], at).toString('latin1'));
        break;
      case 0x43: // SHORT_BINBYTES
        need(1, at);
        stack.push(bytes(data[p++], at));
        break;
      case 0x42: // BINBYTES
        need(4, at);
        p += 4;
        stack.push(bytes(data.readUInt32LE(p - 4), at));
        break;
      case 0x4a: // BININT
        need(4, at);
        stack.push(data.readInt32LE(p));
        p += 4;
        break;
      case 0x4b: // BININT1
        need(1, at);
        stack.push(data[p++]);
        break;
      case 0x4d: // BININT2
        need(2, at);
        stack.push(data.readUInt16LE(p));
        p += 2;
        break;
      case 0x8a: { // LONG1
        need(1, at);
        const n = data[p++];
        stack.push(decodeLong(bytes(n, at)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8, at);
        stack.push(data.readDoubleBE(p));
        p += 8;
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x61: { // APPEND
        const v = pop(at);
        appendItems(at, top(at), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark(at);
        appendItems(at, top(at), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(at);
        const k = pop(at);
        setItems(at, top(at), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const kv = popMark(at);
        setItems(at, top(at), kv);
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(at);
        const fn = pop(at) as PickleCallable;
        if (!fn || (fn as any).kind !== 'callable') fail(at, `REDUCE on something that is not callable (${describe(fn)})`);
        if (!Array.isArray(args)) fail(at, `REDUCE arguments of ${fn.name} are not a tuple`);
        stack.push(fn.call(args as unknown[]));
        break;
      }
      case 0x62: { // BUILD
        const state = pop(at);
        hooks.build(top(at), state);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop(at)));
        break;
      default:
        fail(at, `unsupported opcode ${opcodeName(op)}`);
    }
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return 'tuple/list';
  if (typeof v === 'object') return (v as any).kind ?? 'object';
  return typeof v;
}
