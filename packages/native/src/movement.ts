/**
 * Data-movement and dtype kernels of the `native` backend: Cast, fills, and every kernel that only rearranges
 * elements (Transpose, Slice, StridedSlice, Concat, Pack, Unpack, SplitV, Tile, PadV2, BroadcastTo, Reverse), each
 * reduced to the addon's one strided-copy primitive (csrc/ops.h). Cases they do not cover (complex or string
 * tensors) go to the stock cpu kernel underneath.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataType, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon';
import type { KernelHost } from './heap';
import type { Impl } from './kernels';

export const DTYPE_CODE: Partial<Record<DataType, number>> = { float32: 0, int32: 1, bool: 2 };
const elemBytes = (dtype: DataType) => (dtype === 'bool' ? 1 : 4);
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const numeric = (...ts: Array<TensorInfo | undefined>) => ts.every((t) => t != null && DTYPE_CODE[t.dtype] !== undefined);

export function contiguousStrides(shape: number[]): number[] {
  const st = new Array<number>(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; d--) {
    st[d] = s;
    s *= shape[d];
  }
  return st;
}

/**
 * dst[i * dstStrides] = src[i * srcStrides] over `dims` (element strides, offsets in bytes to element 0). Size-1
 * dims are dropped and neighbours both sides walk contiguously are merged, so most copies become a few long rows.
 */
export function copyStrided(addon: NativeAddon, host: KernelHost, srcByte: number, dstByte: number, elem: number, dims: number[], ss: number[], ds: number[]): void {
  if (dims.some((d) => d === 0)) return;
  const D: number[] = [];
  const S: number[] = [];
  const T: number[] = [];
  for (let d = 0; d < dims.length; d++) {
    if (dims[d] === 1) continue;
    const k = D.length - 1;
    if (k >= 0 && S[k] === ss[d] * dims[d] && T[k] === ds[d] * dims[d]) {
      D[k] *= dims[d];
      S[k] = ss[d];
      T[k] = ds[d];
    } else {
      D.push(dims[d]);
      S.push(ss[d]);
      T.push(ds[d]);
    }
  }
  if (!D.length) {
    D.push(1);
    S.push(1);
    T.push(1);
  }
  addon.stridedCopy(host.heap(), srcByte, dstByte, elem, Float64Array.from(D), Float64Array.from(S), Float64Array.from(T));
}

/** out = x viewed through (offset, dims, element strides): the core of slice/transpose/broadcast/tile/reverse. */
function gatherView(addon: NativeAddon, host: KernelHost, x: TensorInfo, outShape: number[], elemOffset: number, dims: number[], strides: number[]): TensorInfo {
  const out = host.output(outShape, x.dtype);
  const e = elemBytes(x.dtype);
  copyStrided(addon, host, host.offset(x) + elemOffset * e, host.offset(out), e, dims, strides, contiguousStrides(dims));
  return out;
}

const cast: Impl = (addon, host, { x }, attrs) => {
  const to = attrs.dtype as DataType;
  if (!numeric(x) || DTYPE_CODE[to] === undefined) return null;
  if (x!.dtype === to) {
    // same dtype: share the data, as the cpu backend's Cast does (no copy)
    tf.backend().incRef(x!.dataId);
    return { dataId: x!.dataId, shape: x!.shape, dtype: to };
  }
  const out = host.output(x!.shape, to);
  addon.cast(host.heap(), host.offset(x!), DTYPE_CODE[x!.dtype]!, host.offset(out), DTYPE_CODE[to]!, size(x!.shape));
  return out;
};

function filled(addon: NativeAddon, host: KernelHost, shape: number[], dtype: DataType, value: number): TensorInfo | null {
  if (DTYPE_CODE[dtype] === undefined) return null;
  const out = host.output(shape, dtype);
  addon.fill(host.heap(), host.offset(out), DTYPE_CODE[dtype]!, value, size(shape));
  return out;
}

const fill: Impl = (addon, host, _inputs, attrs) => {
  const value = attrs.value as number | string;
  if (typeof value !== 'number') return null;
  return filled(addon, host, attrs.shape as number[], (attrs.dtype as DataType) ?? 'float32', value);
};
const zerosLike: Impl = (addon, host, { x }) => (numeric(x) ? filled(addon, host, x!.shape, x!.dtype, 0) : null);
const onesLike: Impl = (addon, host, { x }) => (numeric(x) ? filled(addon, host, x!.shape, x!.dtype, 1) : null);

const transpose: Impl = (addon, host, { x }, attrs) => {
  if (!numeric(x)) return null;
  const perm = attrs.perm as number[];
  const inSt = contiguousStrides(x!.shape);
  const outShape = perm.map((p) => x!.shape[p]);
  return gatherView(addon, host, x!, outShape, 0, outShape, perm.map((p) => inSt[p]));
};

function sliceOf(addon: NativeAddon, host: KernelHost, x: TensorInfo, begin: number[], sizes: number[]): TensorInfo {
  const inSt = contiguousStrides(x.shape);
  const off = begin.reduce((acc, b, d) => acc + b * inSt[d], 0);
  return gatherView(addon, host, x, sizes, off, sizes, inSt);
}

const slice: Impl = (addon, host, { x }, attrs) => {
  if (!numeric(x)) return null;
  const [begin, sizes] = tf.slice_util.parseSliceParams(x as tf.TensorInfo as tf.Tensor, attrs.begin as number[], attrs.size as number[]);
  tf.slice_util.assertParamsValid(x as tf.TensorInfo as tf.Tensor, begin, sizes);
  return sliceOf(addon, host, x!, begin, sizes);
};

const stridedSlice: Impl = (addon, host, { x }, attrs) => {
  if (!numeric(x)) return null;
  const a = attrs as NamedAttrMap & Record<string, number & number[]>;
  const info = tf.slice_util.sliceInfo(x!.shape, a.begin, a.end, a.strides, a.beginMask, a.endMask, a.ellipsisMask, a.newAxisMask, a.shrinkAxisMask);
  const inSt = contiguousStrides(x!.shape);
  const dims = info.finalShapeSparse;
  const off = info.begin.reduce((acc, b, d) => acc + b * inSt[d], 0);
  return gatherView(addon, host, x!, info.finalShape, off, dims, dims.map((_, d) => inSt[d] * info.strides[d]));
};

/** Copies each input into `out` along `axis` (Concat; Pack after inserting the new axis). */
function concatInto(addon: NativeAddon, host: KernelHost, inputs: TensorInfo[], shapes: number[][], axis: number, outShape: number[]): TensorInfo {
  const dtype = inputs[0].dtype;
  const out = host.output(outShape, dtype);
  const e = elemBytes(dtype);
  const outSt = contiguousStrides(outShape);
  let at = 0;
  inputs.forEach((t, i) => {
    const dims = shapes[i];
    copyStrided(addon, host, host.offset(t), host.offset(out) + at * outSt[axis] * e, e, dims, contiguousStrides(dims), outSt);
    at += dims[axis];
  });
  return out;
}

function tensorList(inputs: Record<string, TensorInfo | undefined>): TensorInfo[] {
  return Object.keys(inputs)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => inputs[k]!)
    .filter(Boolean);
}

const concat: Impl = (addon, host, inputs, attrs) => {
  const list = tensorList(inputs);
  if (!list.length || !numeric(...list) || list.some((t) => t.dtype !== list[0].dtype)) return null;
  const axis = tf.util.parseAxisParam(attrs.axis as number, list[0].shape)[0];
  const outShape = tf.backend_util.computeOutShape(list.map((t) => t.shape), axis);
  return concatInto(addon, host, list, list.map((t) => t.shape), axis, outShape);
};

const pack: Impl = (addon, host, inputs, attrs) => {
  const list = tensorList(inputs);
  if (!list.length || !numeric(...list) || list.some((t) => t.dtype !== list[0].dtype || t.shape.join() !== list[0].shape.join())) return null;
  const rank = list[0].shape.length;
  const axis = ((attrs.axis as number) + rank + 1) % (rank + 1);
  const shape = [...list[0].shape.slice(0, axis), 1, ...list[0].shape.slice(axis)];
  const outShape = [...list[0].shape.slice(0, axis), list.length, ...list[0].shape.slice(axis)];
  return concatInto(addon, host, list, list.map(() => shape), axis, outShape);
};

function splitAlong(addon: NativeAddon, host: KernelHost, x: TensorInfo, axis: number, sizes: number[], squeeze: boolean): TensorInfo[] {
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const sz = x.shape.slice();
    sz[axis] = s;
    const part = sliceOf(addon, host, x, begin, sz);
    begin[axis] += s;
    return squeeze ? { ...part, shape: sz.filter((_, d) => d !== axis) } : part;
  });
}

const splitV: Impl = (addon, host, { x }, attrs) => {
  if (!numeric(x)) return null;
  const axis = tf.util.parseAxisParam(attrs.axis as number, x!.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.TensorInfo as tf.Tensor, attrs.numOrSizeSplits as number | number[], axis);
  return splitAlong(addon, host, x!, axis, sizes, false);
};

const unpack: Impl = (addon, host, { value }, attrs) => {
  if (!numeric(value)) return null;
  const rank = value!.shape.length;
  const axis = ((attrs.axis as number) + rank) % rank;
  return splitAlong(addon, host, value!, axis, new Array(value!.shape[axis]).fill(1), true);
};

const tile: Impl = (addon, host, { x }, attrs) => {
  if (!numeric(x)) return null;
  const reps = attrs.reps as number[];
  const inSt = contiguousStrides(x!.shape);
  const dims: number[] = [];
  const strides: number[] = [];
  x!.shape.forEach((d, i) => {
    dims.push(reps[i], d);
    strides.push(0, inSt[i]);
  });
  return gatherView(addon, host, x!, x!.shape.map((d, i) => d * reps[i]), 0, dims, strides);
};

const broadcastTo: Impl = (addon, host, { x }, attrs) => {
  if (!numeric(x)) return null;
  const shape = attrs.shape as number[];
  const pad = shape.length - x!.shape.length;
  if (pad < 0) return null;
  const xs = [...new Array(pad).fill(1), ...x!.shape];
  if (xs.some((d, i) => d !== 1 && d !== shape[i])) return null; // the kernel underneath reports the error
  const inSt = contiguousStrides(xs);
  return gatherView(addon, host, x!, shape, 0, shape, xs.map((d, i) => (d === 1 ? 0 : inSt[i])));
};

const reverse: Impl = (addon, host, { x }, attrs) => {
  if (!numeric(x)) return null;
  const axes = new Set(tf.util.parseAxisParam(attrs.dims as number | number[], x!.shape));
  const inSt = contiguousStrides(x!.shape);
  const off = x!.shape.reduce((acc, d, i) => acc + (axes.has(i) ? (d - 1) * inSt[i] : 0), 0);
  return gatherView(addon, host, x!, x!.shape, off, x!.shape, inSt.map((s, i) => (axes.has(i) ? -s : s)));
};

const padV2: Impl = (addon, host, { x }, attrs) => {
  if (!numeric(x)) return null;
  const paddings = attrs.paddings as Array<[number, number]>;
  const outShape = x!.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  const out = filled(addon, host, outShape, x!.dtype, attrs.constantValue as number)!;
  const e = elemBytes(x!.dtype);
  const outSt = contiguousStrides(outShape);
  const off = paddings.reduce((acc, p, i) => acc + p[0] * outSt[i], 0);
  copyStrided(addon, host, host.offset(x!), host.offset(out) + off * e, e, x!.shape, contiguousStrides(x!.shape), outSt);
  return out;
};

/** Native backend only (the wasm backend keeps its own C++ kernels for these). */
export const MOVEMENT_KERNELS: Record<string, { impl: Impl; what: string }> = {
  Cast: { impl: cast, what: 'dtype conversion (always a real copy: no int/bool storage read as float)' },
  Fill: { impl: fill, what: 'constant fill' },
  ZerosLike: { impl: zerosLike, what: 'zero fill' },
  OnesLike: { impl: onesLike, what: 'one fill' },
  Transpose: { impl: transpose, what: 'any permutation (strided copy)' },
  Slice: { impl: slice, what: 'strided copy' },
  StridedSlice: { impl: stridedSlice, what: 'strided copy (any strides and masks)' },
  Concat: { impl: concat, what: 'strided copies into the output' },
  Pack: { impl: pack, what: 'strided copies into the output' },
  Unpack: { impl: unpack, what: 'strided copies' },
  SplitV: { impl: splitV, what: 'strided copies' },
  Tile: { impl: tile, what: 'strided copy with broadcast strides' },
  BroadcastTo: { impl: broadcastTo, what: 'strided copy with broadcast strides' },
  Reverse: { impl: reverse, what: 'strided copy with negative strides' },
  PadV2: { impl: padV2, what: 'fill + strided copy' },
};
