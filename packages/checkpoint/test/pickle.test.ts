import { unpickle, PickleHooks } from '../src/pickle';

/** Hooks that allow only OrderedDict, as a minimal stand-in for the torch hooks. */
const hooks: PickleHooks = {
  findClass: (m, n) => {
    if (`${m}.${n}` !== 'collections.OrderedDict') throw new Error(`class ${m}.${n} refused`);
    return { kind: 'callable', name: 'OrderedDict', call: () => new Map() };
  },
  persistentLoad: (pid) => ({ pid }),
  build: () => undefined,
};

/** Python: pickle.dumps(p1, protocol=4), p1 = {'a': [1, -2, 300, 70000, -70000, 2**40, -2**63, 1.5, None, True, False],
 * 'b': b, 'é': (), 'c': (1,), 'od': OrderedDict(k=1), 'shared': b} with b = ('x', 'yy'). Uses FRAME, MEMOIZE,
 * SHORT_BINUNICODE, STACK_GLOBAL, LONG1, BINFLOAT, BININT*, APPENDS, SETITEM(S), TUPLE1/2, BINGET, REDUCE. */
const P1 =
  '80049594000000000000007d94288c0161945d94284b014afeffffff4d2c014a701101004a90eefeff8a060000000000018a080000000000000080473ff80000000000004e8889658c0162948c0178948c0279799486948c02c3a994298c0163944b0185948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b01738c06736861726564946806752e';

test('decodes what Python 3 pickle (protocol 4) writes', () => {
  const v = unpickle('p1', Buffer.from(P1, 'hex'), hooks) as Map<string, unknown>;
  expect([...v.keys()]).toEqual(['a', 'b', 'é', 'c', 'od', 'shared']);
  expect(v.get('a')).toEqual([1, -2, 300, 70000, -70000, 2 ** 40, -(2n ** 63n), 1.5, null, true, false]);
  expect(v.get('b')).toEqual(['x', 'yy']);
  expect(v.get('shared')).toBe(v.get('b')); // memo reference, not a copy
  expect(v.get('é')).toEqual([]);
  expect(v.get('c')).toEqual([1]);
  expect(v.get('od')).toEqual(new Map([['k', 1]]));
});

test('hand-built opcodes: LONG_BINPUT/LONG_BINGET, APPEND, DICT, TUPLE3, BINPERSID, POP, DUP', () => {
  // [ 'z', 'z' ] through memo slot 300
  const lst = Buffer.from('80025d8c017a722c010000616a2c010000612e', 'hex');
  expect(unpickle('l', lst, hooks)).toEqual(['z', 'z']);
  // MARK 'a' 1 DICT ; then MARK 1 2 3 ... TUPLE3 inside a list ; BINPERSID on a tuple
  const d = Buffer.from('8002288c01614b0164' + '2e', 'hex');
  expect(unpickle('d', d, hooks)).toEqual(new Map([['a', 1]]));
  const t = Buffer.from('80024b014b024b03874b09303285' + '2e', 'hex'); // (1,2,3) 9 POP DUP TUPLE1 -> ((1,2,3),) left on top
  expect(unpickle('t', t, hooks)).toEqual([[1, 2, 3]]);
  const p = Buffer.from('80024b0585512e', 'hex');
  expect(unpickle('p', p, hooks)).toEqual({ pid: [5] });
});

test('errors carry the source name, the byte position and the opcode', () => {
  expect(() => unpickle('x.pkl', Buffer.from('8002812e', 'hex'), hooks)).toThrow('x.pkl: pickle: unsupported opcode 0x81 (NEWOBJ) (at byte 2)');
  expect(() => unpickle('x.pkl', Buffer.from('8002ff', 'hex'), hooks)).toThrow(/unsupported opcode 0xff \(not a pickle opcode\)/);
  expect(() => unpickle('x.pkl', Buffer.from('80024b', 'hex'), hooks)).toThrow(/truncated: needs 1 more bytes \(at byte 2\)/);
  expect(() => unpickle('x.pkl', Buffer.from('8002', 'hex'), hooks)).toThrow(/truncated: no STOP opcode/);
  expect(() => unpickle('x.pkl', Buffer.from('800268072e', 'hex'), hooks)).toThrow(/memo key 7 not found/);
  expect(() => unpickle('x.pkl', Buffer.from('8002636f730a73797374656d0a2e', 'hex'), hooks)).toThrow('class os.system refused');
  expect(() => unpickle('x.pkl', Buffer.from('80024b0129522e', 'hex'), hooks)).toThrow(/REDUCE on something that is not callable \(number\)/);
});
