import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { broadcastBatchIndex } from './broadcast';
import { ACTIVATION, BINARY, NativeAddon, UNARY } from './addon';
import { KernelHost, hostOf } from './heap';

/**
 * Native kernels for the wasm backend. Each reads its inputs and writes its output in the wasm heap (no copies)
 * and hands every case it does not cover (other dtypes, empty tensors, unsupported attributes) to the kernel
 * that was registered before it: the backend package's patched kernel or tfjs's stock one.
 */
export type Impl = (addon: NativeAddon, host: KernelHost, inputs: Record<string, TensorInfo | undefined>, attrs: NamedAttrMap) => TensorInfo | TensorInfo[] | null;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const f32 = (...ts: Array<TensorInfo | undefined>) => ts.every((t) => t != null && t.dtype === 'float32' && size(t.shape) > 0);

/** tf.matMul's batch broadcasting: for each flat index of `outBatch`, the flat index into `batch` (right-aligned). */
export const broadcastIndex = broadcastBatchIndex;

/** The broadcast shape of a and b (numpy rules), or null when they do not broadcast. */
export function broadcastShapes(a: number[], b: number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** a x b as tf.matMul (transposes, batch broadcasting), optional bias (1 or N values) and activation. */
function matMul(addon: NativeAddon, host: KernelHost, a: TensorInfo, b: TensorInfo, transA: boolean, transB: boolean, bias: TensorInfo | undefined, act: number, alpha: number): TensorInfo | null {
  if (a.shape.length < 2 || b.shape.length < 2) return null;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const N = transB ? br : bc;
  if ((transB ? bc : br) !== K) return null; // the fallback kernel reports the shape error
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const outBatch = broadcastShapes(batchA, batchB);
  if (!outBatch) return null;
  const sA = size(batchA);
  const sB = size(batchB);
  const nOut = size(outBatch);
  const out = host.output([...outBatch, M, N], 'float32');
  const biasOff = bias ? host.offset(bias) : -1;
  const biasSize = bias ? size(bias.shape) : 0;
  const h = host.heap(); // after makeOutput: an allocation may have grown (replaced) the heap
  if (sB === 1 && !transA) {
    // [..., M, K] x [K, N]: the batch of a folds into rows, one gemm.
    addon.gemm(h, host.offset(a), host.offset(b), host.offset(out), sA * M, N, K, false, transB, 1, 0, 0, null, null, biasOff, biasSize, act, alpha, 0);
  } else {
    const aIdx = sA === nOut || sA === 1 ? null : broadcastIndex(outBatch, batchA);
    const bIdx = sB === nOut || sB === 1 ? null : broadcastIndex(outBatch, batchB);
    addon.gemm(h, host.offset(a), host.offset(b), host.offset(out), M, N, K, transA, transB, nOut, sA === 1 ? 0 : M * K, sB === 1 ? 0 : K * N, aIdx, bIdx, biasOff, biasSize, act, alpha, 0);
  }
  return out;
}

const batchMatMul: Impl = (addon, host, { a, b }, attrs) => {
  if (!f32(a, b)) return null;
  return matMul(addon, host, a!, b!, !!attrs.transposeA, !!attrs.transposeB, undefined, 0, 0);
};

const fusedMatMul: Impl = (addon, host, { a, b, bias, preluActivationWeights }, attrs) => {
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  const act = ACTIVATION[activation];
  if (!f32(a, b) || act == null || preluActivationWeights != null) return null;
  if (bias && (bias.dtype !== 'float32' || bias.shape.length > 1)) return null;
  const N = attrs.transposeB ? b!.shape[b!.shape.length - 2] : b!.shape[b!.shape.length - 1];
  if (bias && size(bias.shape) !== 1 && size(bias.shape) !== N) return null;
  return matMul(addon, host, a!, b!, !!attrs.transposeA, !!attrs.transposeB, bias, act, (attrs.leakyreluAlpha as number | undefined) ?? 0.2);
};

/** Reduction axes as [outer, mid, inner] when they form one contiguous block (after dropping size-1 dims). */
function reductionView(shape: number[], axisAttr: number | number[] | undefined): { outer: number; mid: number; inner: number } | null {
  const rank = shape.length;
  const axes = (axisAttr == null ? [...Array(rank).keys()] : Array.isArray(axisAttr) ? axisAttr : [axisAttr]).map((ax) => (ax < 0 ? ax + rank : ax));
  if (axes.some((ax) => ax < 0 || ax >= rank)) return null;
  const red = new Set(axes);
  // Size-1 dims can be counted on either side; only the order of the others matters.
  const kinds = shape.map((d, i) => (d === 1 ? 'any' : red.has(i) ? 'mid' : 'keep'));
  let phase = 0; // 0: outer, 1: mid, 2: inner
  let outer = 1, mid = 1, inner = 1;
  for (let i = 0; i < rank; i++) {
    if (kinds[i] === 'any') continue;
    if (kinds[i] === 'mid') {
      if (phase === 2) return null;
      phase = 1;
      mid *= shape[i];
    } else if (phase === 0) outer *= shape[i];
    else {
      phase = 2;
      inner *= shape[i];
    }
  }
  return { outer, mid, inner };
}

function reducedShape(shape: number[], axisAttr: number | number[] | undefined, keepDims: boolean): number[] {
  const rank = shape.length;
  const axes = new Set((axisAttr == null ? [...Array(rank).keys()] : Array.isArray(axisAttr) ? axisAttr : [axisAttr]).map((ax) => (ax < 0 ? ax + rank : ax)));
  return keepDims ? shape.map((d, i) => (axes.has(i) ? 1 : d)) : shape.filter((_, i) => !axes.has(i));
}

function reduction(kind: 'sum' | 'mean' | 'max'): Impl {
  return (addon, host, { x }, attrs) => {
    if (!f32(x)) return null;
    // Sum and Mean name the axes `axis`; Max names them `reductionIndices`.
    const axis = (kind === 'max' ? attrs.reductionIndices : attrs.axis) as number | number[] | undefined;
    const view = reductionView(x!.shape, axis);
    if (!view) return null;
    const out = host.output(reducedShape(x!.shape, axis, !!attrs.keepDims), 'float32');
    const h = host.heap();
    if (kind === 'max') addon.reduceMax(h, host.offset(x!), host.offset(out), view.outer, view.mid, view.inner);
    else addon.reduceSum(h, host.offset(x!), host.offset(out), view.outer, view.mid, view.inner, kind === 'mean' ? 1 / view.mid : 1);
    return out;
  };
}

const softmax: Impl = (addon, host, { logits }, attrs) => {
  if (!f32(logits)) return null;
  const rank = logits!.shape.length;
  const dim = (attrs.dim as number | undefined) ?? -1;
  if (dim !== -1 && dim !== rank - 1) return null;
  const cols = logits!.shape[rank - 1];
  const out = host.output(logits!.shape, 'float32');
  addon.softmax(host.heap(), host.offset(logits!), host.offset(out), size(logits!.shape) / cols, cols);
  return out;
};

function unary(op: number): Impl {
  return (addon, host, { x }) => {
    if (!f32(x)) return null;
    const out = host.output(x!.shape, 'float32');
    addon.unary(host.heap(), op, host.offset(x!), host.offset(out), size(x!.shape));
    return out;
  };
}

/**
 * Broadcasting a op b into `out` as collapsed dims and element strides per input (0 where it broadcasts):
 * size-1 output dims are dropped and neighbours that both inputs walk contiguously are merged, so a bias add
 * [512, 768] + [768] becomes dims [512, 768] with b strides [0, 1], and same-shape ops one flat loop.
 */
export function broadcastPlan(aShape: number[], bShape: number[], out: number[]): { dims: Int32Array; as: Int32Array; bs: Int32Array } {
  const r = out.length;
  const strides = (shape: number[]) => {
    const pad = [...Array(r - shape.length).fill(1), ...shape];
    const st = new Array<number>(r).fill(0);
    let s = 1;
    for (let d = r - 1; d >= 0; d--) {
      st[d] = pad[d] === 1 ? 0 : s;
      s *= pad[d];
    }
    return st;
  };
  const sa = strides(aShape);
  const sb = strides(bShape);
  const dims: number[] = [];
  const as: number[] = [];
  const bs: number[] = [];
  for (let d = 0; d < r; d++) {
    if (out[d] === 1) continue;
    const k = dims.length - 1;
    // merge into the previous dim when both inputs continue it contiguously (or both broadcast it)
    if (k >= 0 && as[k] === sa[d] * out[d] && bs[k] === sb[d] * out[d]) {
      dims[k] *= out[d];
      as[k] = sa[d];
      bs[k] = sb[d];
    } else {
      dims.push(out[d]);
      as.push(sa[d]);
      bs.push(sb[d]);
    }
  }
  if (!dims.length) return { dims: Int32Array.of(1), as: Int32Array.of(0), bs: Int32Array.of(0) };
  return { dims: Int32Array.from(dims), as: Int32Array.from(as), bs: Int32Array.from(bs) };
}

function binary(op: number): Impl {
  return (addon, host, { a, b }) => {
    if (!f32(a, b)) return null;
    const outShape = broadcastShapes(a!.shape, b!.shape);
    if (!outShape) return null;
    const plan = broadcastPlan(a!.shape, b!.shape, outShape);
    const out = host.output(outShape, 'float32');
    addon.binary(host.heap(), op, host.offset(a!), host.offset(b!), host.offset(out), plan.dims, plan.as, plan.bs);
    return out;
  };
}

const gather: Impl = (addon, host, { x, indices }, attrs) => {
  if (!f32(x) || !indices || indices.dtype !== 'int32' || size(indices.shape) === 0 || ((attrs.batchDims as number | undefined) ?? 0) !== 0) return null;
  const rank = x!.shape.length;
  const axis = (((attrs.axis as number | undefined) ?? 0) + rank) % rank;
  const outer = size(x!.shape.slice(0, axis));
  const inner = size(x!.shape.slice(axis + 1));
  const nIdx = size(indices.shape);
  const out = host.output([...x!.shape.slice(0, axis), ...indices.shape, ...x!.shape.slice(axis + 1)], 'float32');
  const ok = addon.gather(host.heap(), host.offset(x!), host.offset(indices), host.offset(out), outer, x!.shape[axis], inner, nIdx);
  if (ok) return out;
  host.release(out); // an index out of range: the kernel underneath reports it
  return null;
};

/**
 * Transpose that keeps the last axis in place (attention's [B, S, NH, dh] <-> [B, NH, S, dh]): contiguous row
 * copies. Others (a real 2-D transpose) stay with the kernel underneath. 4-byte dtypes only.
 */
const transpose: Impl = (addon, host, { x }, attrs) => {
  if (!x || (x.dtype !== 'float32' && x.dtype !== 'int32') || size(x.shape) === 0) return null;
  const perm = attrs.perm as number[];
  const rank = x.shape.length;
  if (!perm || perm.length !== rank || perm[rank - 1] !== rank - 1) return null;
  const inStrides = new Array<number>(rank);
  for (let d = rank - 1, s = 1; d >= 0; d--) {
    inStrides[d] = s;
    s *= x.shape[d];
  }
  let inner = x.shape[rank - 1];
  const dims: number[] = [];
  const strides: number[] = [];
  for (let d = 0; d < rank - 1; d++) {
    const n = x.shape[perm[d]];
    if (n === 1) continue;
    const st = inStrides[perm[d]];
    const k = dims.length - 1;
    if (k >= 0 && strides[k] === st * n) {
      dims[k] *= n; // contiguous with the previous row dim: one bigger dim
      strides[k] = st;
    } else {
      dims.push(n);
      strides.push(st);
    }
  }
  // the last row dim may continue the contiguous run: fold it into the copied rows
  while (dims.length && strides[dims.length - 1] === inner) {
    inner *= dims.pop()!;
    strides.pop();
  }
  const out = host.output(perm.map((p) => x.shape[p]), x.dtype);
  addon.permuteRows(host.heap(), host.offset(x), host.offset(out), Int32Array.from(dims.length ? dims : [1]), Float64Array.from(strides.length ? strides : [0]), inner);
  return out;
};

/** Kernel name -> native implementation (what `altclip info` lists). */
export const NATIVE_KERNELS: Record<string, { impl: Impl; what: string }> = {
  BatchMatMul: { impl: batchMatMul, what: 'sgemm (OpenBLAS or built-in), all transpose/batch/broadcast forms' },
  _FusedMatMul: { impl: fusedMatMul, what: 'sgemm (OpenBLAS or built-in) + bias/activation epilogue' },
  Sum: { impl: reduction('sum'), what: 'contiguous-axes sum (bias and LayerNorm gradients)' },
  Mean: { impl: reduction('mean'), what: 'contiguous-axes mean' },
  Max: { impl: reduction('max'), what: 'contiguous-axes max' },
  Softmax: { impl: softmax, what: 'last-axis softmax' },
  Exp: { impl: unary(UNARY.Exp), what: 'vectorised exp' },
  Erf: { impl: unary(UNARY.Erf), what: 'vectorised erf (GELU)' },
  Sigmoid: { impl: unary(UNARY.Sigmoid), what: 'vectorised sigmoid (quick-GELU)' },
  Sqrt: { impl: unary(UNARY.Sqrt), what: 'vectorised sqrt' },
  Rsqrt: { impl: unary(UNARY.Rsqrt), what: 'vectorised rsqrt (LayerNorm)' },
  Square: { impl: unary(UNARY.Square), what: 'vectorised square' },
  Neg: { impl: unary(UNARY.Neg), what: 'vectorised negation' },
  Add: { impl: binary(BINARY.Add), what: 'broadcasting add' },
  Sub: { impl: binary(BINARY.Sub), what: 'broadcasting subtract' },
  Multiply: { impl: binary(BINARY.Multiply), what: 'broadcasting multiply' },
  RealDiv: { impl: binary(BINARY.RealDiv), what: 'broadcasting divide' },
  SquaredDifference: { impl: binary(BINARY.SquaredDifference), what: 'broadcasting (a-b)^2 (moments)' },
  Maximum: { impl: binary(BINARY.Maximum), what: 'broadcasting maximum' },
  Minimum: { impl: binary(BINARY.Minimum), what: 'broadcasting minimum' },
  GatherV2: { impl: gather, what: 'row gather (embedding lookups)' },
  Transpose: { impl: transpose, what: 'permutations that keep the last axis (attention heads) as row copies' },
};

interface Registered {
  func: KernelFunc;
  previous: KernelConfig | undefined;
}
/** `${backend}/${kernel}` -> what we registered and what was there before. */
const registered = new Map<string, Registered>();
export type NativeKernelBackend = 'wasm' | 'native';

function wrap(addon: NativeAddon, name: string, impl: Impl, previous: KernelConfig | undefined, backendName: string): KernelFunc {
  return (args) => {
    const host = hostOf(args.backend);
    if (host) {
      const out = impl(addon, host, args.inputs as Record<string, TensorInfo | undefined>, args.attrs ?? {});
      if (out) return out as TensorInfo;
    }
    if (!previous) throw new Error(`${name}: no ${backendName} kernel for this case (dtype or shape not supported natively)`);
    return previous.kernelFunc(args);
  };
}

/**
 * Registers the native kernels on `backendName` over whatever is registered now (kept as the fallback).
 * Idempotent; re-registers a kernel that something else replaced since. Returns the kernel names now native.
 */
export function registerKernels(addon: NativeAddon, only?: string[], backendName: NativeKernelBackend = 'wasm', table: Record<string, { impl: Impl }> = NATIVE_KERNELS): string[] {
  for (const [name, { impl }] of Object.entries(table)) {
    if (only && !only.includes(name)) continue;
    const key = `${backendName}/${name}`;
    const current = tf.getKernel(name, backendName);
    const mine = registered.get(key);
    if (mine && current?.kernelFunc === mine.func) continue;
    if (current) tf.unregisterKernel(name, backendName);
    const func = wrap(addon, name, impl, current, backendName);
    tf.registerKernel({ kernelName: name, backendName, kernelFunc: func });
    registered.set(key, { func, previous: current });
  }
  return activeKernels(backendName);
}

/** Puts back the kernels that were registered before registerKernels (where ours are still in place). */
export function unregisterKernels(backendName: NativeKernelBackend = 'wasm'): void {
  for (const [key, { func, previous }] of registered) {
    const [b, name] = key.split('/');
    if (b !== backendName) continue;
    const current = tf.getKernel(name, backendName);
    if (current?.kernelFunc === func) {
      tf.unregisterKernel(name, backendName);
      if (previous) tf.registerKernel(previous);
    }
    registered.delete(key);
  }
}

/** Names of the native kernels currently registered on `backendName` (and not replaced by someone else since). */
export function activeKernels(backendName: NativeKernelBackend = 'wasm'): string[] {
  return [...registered]
    .filter(([key, r]) => key.startsWith(`${backendName}/`) && tf.getKernel(key.slice(backendName.length + 1), backendName)?.kernelFunc === r.func)
    .map(([key]) => key.slice(backendName.length + 1));
}
