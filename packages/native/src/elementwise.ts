/**
 * The rest of a training step's kernels on the `native` backend (issue 11; csrc/elementwise.h): unary ops beyond the
 * hot float32 ones, int32 arithmetic, comparisons and logical ops (bool out), Pow, Cumsum, ArgMax/ArgMin, OneHot,
 * UnsortedSegmentSum (the gather gradient), AddN, Select and Range. Cases they do not cover (string/complex tensors,
 * empty tensors, unusual attributes) go to the stock cpu kernel underneath, which fallbackKernelUse() counts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';
import { NATIVE_KERNELS, broadcastPlan, broadcastShapes, type Impl } from './kernels';
import { DTYPE_CODE } from './movement';

/** Op codes of csrc/elementwise.h. */
export const UNARY_EX = { Abs: 0, Floor: 1, Ceil: 2, Round: 3, Log: 4, Step: 5, ClipByValue: 6, Relu: 7, Reciprocal: 8, Sign: 9, Log1p: 10 } as const;
export const BINARY_EX = {
  Add: 0, Sub: 1, Multiply: 2, Maximum: 3, Minimum: 4, Pow: 5,
  Equal: 10, NotEqual: 11, Greater: 12, GreaterEqual: 13, Less: 14, LessEqual: 15,
  LogicalAnd: 20, LogicalOr: 21,
} as const;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const nonEmpty = (t: TensorInfo | undefined): t is TensorInfo => t != null && size(t.shape) > 0;
/** Unary ops defined on int32 too (the others are float32 only). */
const INT_UNARY = new Set<number>([UNARY_EX.Abs, UNARY_EX.Relu, UNARY_EX.Sign, UNARY_EX.ClipByValue]);

function unaryEx(op: number, params: (attrs: Record<string, unknown>) => [number, number] = () => [0, 0]): Impl {
  return (addon, host, { x }, attrs) => {
    if (!nonEmpty(x) || !(x.dtype === 'float32' || (x.dtype === 'int32' && INT_UNARY.has(op)))) return null;
    const [p0, p1] = params(attrs as Record<string, unknown>);
    // int32 ClipByValue with fractional bounds would round them; leave that to the stock kernel
    if (x.dtype === 'int32' && !(Number.isInteger(p0) && Number.isInteger(p1))) return null;
    const out = host.output(x.shape, x.dtype);
    addon.unaryEx(host.heap(), op, DTYPE_CODE[x.dtype]!, host.offset(x), host.offset(out), size(x.shape), p0, p1);
    return out;
  };
}

const BOOL_OUT = new Set<number>([10, 11, 12, 13, 14, 15, 20, 21]);

/** a op b with broadcasting, for the dtypes csrc's binaryExValid accepts (checked here first). */
function binaryEx(op: number, dtypes: DataType[]): Impl {
  return (addon, host, { a, b }) => {
    if (!nonEmpty(a) || !nonEmpty(b) || a.dtype !== b.dtype || !dtypes.includes(a.dtype)) return null;
    const outShape = broadcastShapes(a.shape, b.shape);
    if (!outShape) return null; // the stock kernel reports the shape error
    const plan = broadcastPlan(a.shape, b.shape, outShape);
    const out = host.output(outShape, BOOL_OUT.has(op) ? 'bool' : a.dtype);
    addon.binaryEx(host.heap(), op, DTYPE_CODE[a.dtype]!, host.offset(a), host.offset(b), host.offset(out), plan.dims, plan.as, plan.bs);
    return out;
  };
}

/** The float32 kernel of NATIVE_KERNELS, then int32 here. */
function floatThenInt(name: keyof typeof NATIVE_KERNELS, op: number): Impl {
  const f = NATIVE_KERNELS[name].impl;
  const i = binaryEx(op, ['int32']);
  return (addon, host, inputs, attrs) => f(addon, host, inputs, attrs) ?? i(addon, host, inputs, attrs);
}

/** [outer, n, inner] around axis `axis` of `shape`. */
function axisView(shape: number[], axis: number): { outer: number; n: number; inner: number } {
  return { outer: size(shape.slice(0, axis)), n: shape[axis], inner: size(shape.slice(axis + 1)) };
}

const cumsum: Impl = (addon, host, { x }, attrs) => {
  if (!nonEmpty(x) || (x.dtype !== 'float32' && x.dtype !== 'int32')) return null;
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const v = axisView(x.shape, axis);
  const out = host.output(x.shape, x.dtype);
  addon.cumsum(host.heap(), DTYPE_CODE[x.dtype]!, host.offset(x), host.offset(out), v.outer, v.n, v.inner, !!attrs.exclusive, !!attrs.reverse);
  return out;
};

function argReduce(isMin: boolean): Impl {
  return (addon, host, { x }, attrs) => {
    if (!nonEmpty(x) || (x.dtype !== 'float32' && x.dtype !== 'int32')) return null;
    const axis = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape)[0];
    const v = axisView(x.shape, axis);
    const out = host.output(x.shape.filter((_, d) => d !== axis), 'int32');
    addon.argReduce(host.heap(), isMin, DTYPE_CODE[x.dtype]!, host.offset(x), host.offset(out), v.outer, v.n, v.inner);
    return out;
  };
}

const oneHot: Impl = (addon, host, { indices }, attrs) => {
  const dtype = (attrs.dtype as DataType | undefined) ?? 'int32';
  const depth = attrs.depth as number;
  const on = attrs.onValue as number;
  const off = attrs.offValue as number;
  if (!nonEmpty(indices) || indices.dtype !== 'int32' || !(depth > 0) || (dtype !== 'float32' && dtype !== 'int32')) return null;
  if (dtype === 'int32' && !(Number.isInteger(on) && Number.isInteger(off))) return null;
  const out = host.output([...indices.shape, depth], dtype);
  addon.oneHot(host.heap(), host.offset(indices), host.offset(out), DTYPE_CODE[dtype]!, size(indices.shape), depth, on, off);
  return out;
};

/** TensorFlow's UnsortedSegmentSum: segmentIds [...S] a prefix of x [...S, ...R] -> [numSegments, ...R]. */
const unsortedSegmentSum: Impl = (addon, host, { x, segmentIds }, attrs) => {
  const numSegments = attrs.numSegments as number;
  if (!x || !segmentIds || (x.dtype !== 'float32' && x.dtype !== 'int32') || segmentIds.dtype !== 'int32') return null;
  const r = segmentIds.shape.length;
  if (!Number.isInteger(numSegments) || numSegments < 1 || r < 1 || r > x.shape.length || segmentIds.shape.some((s, i) => s !== x.shape[i])) return null;
  const rest = x.shape.slice(r);
  const n = size(segmentIds.shape);
  const d = size(rest);
  if (d === 0) return null;
  const out = host.output([numSegments, ...rest], x.dtype);
  addon.segmentSum(host.heap(), DTYPE_CODE[x.dtype]!, host.offset(x), host.offset(segmentIds), host.offset(out), n, d, numSegments);
  return out;
};

const addN: Impl = (addon, host, inputs) => {
  const list = Object.keys(inputs)
    .sort((p, q) => Number(p) - Number(q))
    .map((k) => inputs[k])
    .filter((t): t is TensorInfo => t != null);
  if (!list.length || !nonEmpty(list[0])) return null;
  const { dtype, shape } = list[0];
  if ((dtype !== 'float32' && dtype !== 'int32') || list.some((t) => t.dtype !== dtype || t.shape.join() !== shape.join())) return null;
  const out = host.output(shape, dtype);
  addon.addN(host.heap(), DTYPE_CODE[dtype]!, Float64Array.from(list.map((t) => host.offset(t))), host.offset(out), size(shape));
  return out;
};

/** tf.where broadcasts condition, t and e to one shape before the kernel; other forms stay with the stock kernel. */
const select: Impl = (addon, host, { condition, t, e }) => {
  if (!nonEmpty(condition) || !t || !e || condition.dtype !== 'bool' || t.dtype !== e.dtype || DTYPE_CODE[t.dtype] === undefined) return null;
  const n = size(t.shape);
  if (size(e.shape) !== n || size(condition.shape) !== n) return null;
  const out = host.output(t.shape, t.dtype);
  addon.select(host.heap(), host.offset(condition), host.offset(t), host.offset(e), host.offset(out), t.dtype === 'bool' ? 1 : 4, n);
  return out;
};

/** tfjs's rangeImpl: empty for start == stop or a step pointing away from stop; a step of 1 counts down when stop < start. */
const range: Impl = (addon, host, _inputs, attrs) => {
  const start = attrs.start as number;
  const stop = attrs.stop as number;
  let step = attrs.step as number;
  const dtype = (attrs.dtype as DataType | undefined) ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'int32') return null;
  if (start === stop || (start < stop && step < 0) || (stop < start && step > 1)) return null; // empty: stock kernel
  const n = Math.abs(Math.ceil((stop - start) / step));
  if (!(n > 0 && n < 2 ** 31)) return null;
  if (stop < start && step === 1) step = -1;
  if (dtype === 'int32' && !(Number.isInteger(start) && Number.isInteger(step) && Math.abs(start) + n * Math.abs(step) < 2 ** 31)) return null;
  const out = host.output([n], dtype);
  addon.range(host.heap(), DTYPE_CODE[dtype]!, host.offset(out), n, start, step);
  return out;
};

const F = ['float32'] as DataType[];
const ANY = ['float32', 'int32', 'bool'] as DataType[];

/** Native backend only (the wasm backend has its own kernels for these). Kernel name -> implementation. */
export const ELEMENTWISE_KERNELS: Record<string, { impl: Impl; what: string }> = {
  Abs: { impl: unaryEx(UNARY_EX.Abs), what: 'float32/int32 abs (norms)' },
  Floor: { impl: unaryEx(UNARY_EX.Floor), what: 'floor (dropout masks)' },
  Ceil: { impl: unaryEx(UNARY_EX.Ceil), what: 'ceil' },
  Round: { impl: unaryEx(UNARY_EX.Round), what: 'round half to even' },
  Log: { impl: unaryEx(UNARY_EX.Log), what: 'log (log-softmax, cross-entropy)' },
  Log1p: { impl: unaryEx(UNARY_EX.Log1p), what: 'log1p' },
  Step: { impl: unaryEx(UNARY_EX.Step, (a) => [(a.alpha as number | undefined) ?? 0, 0]), what: 'step (abs/relu gradients)' },
  ClipByValue: { impl: unaryEx(UNARY_EX.ClipByValue, (a) => [a.clipValueMin as number, a.clipValueMax as number]), what: 'clamp (logit scale)' },
  Relu: { impl: unaryEx(UNARY_EX.Relu), what: 'relu' },
  Reciprocal: { impl: unaryEx(UNARY_EX.Reciprocal), what: '1/x' },
  Sign: { impl: unaryEx(UNARY_EX.Sign), what: 'sign' },
  Pow: { impl: binaryEx(BINARY_EX.Pow, F), what: 'broadcasting pow (x^2, x^1, x^0 exact shortcuts; norms and their gradient)' },
  Equal: { impl: binaryEx(BINARY_EX.Equal, ANY), what: 'broadcasting ==, bool out' },
  NotEqual: { impl: binaryEx(BINARY_EX.NotEqual, ANY), what: 'broadcasting !=, bool out (padding masks)' },
  Greater: { impl: binaryEx(BINARY_EX.Greater, ANY), what: 'broadcasting >, bool out' },
  GreaterEqual: { impl: binaryEx(BINARY_EX.GreaterEqual, ANY), what: 'broadcasting >=, bool out' },
  Less: { impl: binaryEx(BINARY_EX.Less, ANY), what: 'broadcasting <, bool out' },
  LessEqual: { impl: binaryEx(BINARY_EX.LessEqual, ANY), what: 'broadcasting <=, bool out' },
  LogicalAnd: { impl: binaryEx(BINARY_EX.LogicalAnd, ['bool']), what: 'broadcasting and' },
  LogicalOr: { impl: binaryEx(BINARY_EX.LogicalOr, ['bool']), what: 'broadcasting or' },
  Add: { impl: floatThenInt('Add', BINARY_EX.Add), what: 'broadcasting add, float32 and int32 (wraps like tfjs)' },
  Sub: { impl: floatThenInt('Sub', BINARY_EX.Sub), what: 'broadcasting subtract, float32 and int32' },
  Multiply: { impl: floatThenInt('Multiply', BINARY_EX.Multiply), what: 'broadcasting multiply, float32 and int32 (position ids)' },
  Maximum: { impl: floatThenInt('Maximum', BINARY_EX.Maximum), what: 'broadcasting maximum, float32 and int32' },
  Minimum: { impl: floatThenInt('Minimum', BINARY_EX.Minimum), what: 'broadcasting minimum, float32 and int32' },
  Cumsum: { impl: cumsum, what: 'running sum along any axis, float32/int32, exclusive/reverse (position ids)' },
  ArgMax: { impl: argReduce(false), what: 'index of the first maximum along an axis (accuracy)' },
  ArgMin: { impl: argReduce(true), what: 'index of the first minimum along an axis' },
  OneHot: { impl: oneHot, what: 'one-hot rows (classifier cross-entropy)' },
  UnsortedSegmentSum: { impl: unsortedSegmentSum, what: 'row scatter-add (gather/embedding gradient), parallel over segments' },
  AddN: { impl: addN, what: 'sum of same-shaped tensors (gradient accumulation, global norm)' },
  Select: { impl: select, what: 'where(condition, t, e) on same-sized operands' },
  Range: { impl: range, what: 'start + i * step, rounded per step like tfjs' },
};
