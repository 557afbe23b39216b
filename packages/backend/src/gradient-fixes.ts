/**
 * Gradients tfjs-core 4.22 gets wrong or lacks, replaced for every backend:
 *  - BatchMatMul: with batch dimensions broadcast between a and b, tfjs returns the gradient at the broadcast shape
 *    ("The gradient of input 'a' has shape '2,5,3,4', which does not match ... '2,1,3,4'"); here it is summed back
 *    over the broadcast dimensions, as for any broadcasting binary op.
 *  - StridedSlice: no gradient at all; here the output gradient is scattered back to the sliced positions (any
 *    strides, negative ones included, and every mask) with Reshape/Pad/Reverse/Slice only, so it runs natively too.
 *  - Sum / Mean: tfjs multiplies dy by a ones tensor of x's shape, filled element by element in JS on every
 *    backward pass (4 ms of a ~80 ms demo training step, from LayerNorm's means); here dy is broadcast instead
 *    (BroadcastTo, native on the native backend). Same values: x * 1 is exact.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attrsOf } from './kernels/registry';

/** Sums `g` over the leading dims where `shape` (right-aligned) is 1 or absent, and reshapes it to `shape`. */
function sumToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < g.rank; d++) if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) axes.push(d);
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
}

const batchMatMulGrad: tf.GradConfig = {
  kernelName: tf.BatchMatMul,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const dY = dy as tf.Tensor;
    const { transposeA, transposeB } = attrsOf<tf.BatchMatMulAttrs>(attrs);
    let da: () => tf.Tensor, db: () => tf.Tensor;
    if (!transposeA && !transposeB) {
      da = () => tf.matMul(dY, b, false, true);
      db = () => tf.matMul(a, dY, true, false);
    } else if (!transposeA && transposeB) {
      da = () => tf.matMul(dY, b, false, false);
      db = () => tf.matMul(dY, a, true, false);
    } else if (transposeA && !transposeB) {
      da = () => tf.matMul(b, dY, false, true);
      db = () => tf.matMul(a, dY, false, false);
    } else {
      da = () => tf.matMul(b, dY, true, true);
      db = () => tf.matMul(dY, a, true, true);
    }
    return { a: () => sumToShape(da(), a.shape), b: () => sumToShape(db(), b.shape) };
  },
};

/** Places the sliced gradient back into a zero tensor of the input's shape, one dimension at a time. */
function stridedSliceBackward(dy: tf.Tensor, xShape: number[], attrs: Record<string, unknown>): tf.Tensor {
  const a = attrs as Record<string, number & number[]>;
  const info = tf.slice_util.sliceInfo(xShape, a.begin, a.end, a.strides, a.beginMask, a.endMask, a.ellipsisMask, a.newAxisMask, a.shrinkAxisMask);
  if (info.finalShapeSparse.some((n) => n === 0)) return tf.zeros(xShape);
  let g = tf.reshape(dy, info.finalShapeSparse);
  for (let d = 0; d < xShape.length; d++) {
    const n = info.finalShapeSparse[d];
    const full = xShape[d];
    let s = info.strides[d];
    let start = info.begin[d];
    if (s < 0) {
      // element i sits at start - i|s|: reversed, element j sits at start - (n - 1)|s| + j|s|
      g = tf.reverse(g, d);
      s = -s;
      start -= (n - 1) * s;
    }
    if (s > 1) {
      // spread: [.., n, ..] -> [.., n, s, ..] (zeros after each element) -> [.., n*s, ..]
      const shape = g.shape;
      const spread = tf.reshape(g, [...shape.slice(0, d + 1), 1, ...shape.slice(d + 1)]);
      const pads = spread.shape.map((_, i) => (i === d + 1 ? [0, s - 1] : [0, 0])) as Array<[number, number]>;
      g = tf.reshape(tf.pad(spread, pads), [...shape.slice(0, d), n * s, ...shape.slice(d + 1)]);
    }
    const len = g.shape[d];
    const end = start + len;
    if (end > full) {
      const size = g.shape.slice();
      size[d] = full - start;
      g = tf.slice(g, new Array(g.rank).fill(0), size);
    }
    const pads = g.shape.map((_, i) => (i === d ? [start, Math.max(0, full - end)] : [0, 0])) as Array<[number, number]>;
    g = tf.pad(g, pads);
  }
  return g;
}

const stridedSliceGrad: tf.GradConfig = {
  kernelName: tf.StridedSlice,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => ({ x: () => stridedSliceBackward(dy as tf.Tensor, saved[0].shape, attrs as Record<string, unknown>) }),
};

/** dy reshaped to x's rank (reduced axes as 1), divided by the count for Mean, broadcast to x's shape. */
function reductionGrad(kernelName: string, mean: boolean): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const axes = tf.util.parseAxisParam(attrsOf<tf.SumAttrs | tf.MeanAttrs>(attrs).axis, x.shape);
      const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      return {
        x: () => {
          let g = tf.reshape(dy as tf.Tensor, kept);
          if (mean) g = tf.div(g, axes.reduce((n, a) => n * x.shape[a], 1));
          return tf.broadcastTo(g.dtype === 'float32' ? g : tf.cast(g, 'float32'), x.shape);
        },
      };
    },
  };
}

export const GRADIENT_FIXES: tf.GradConfig[] = [batchMatMulGrad, stridedSliceGrad, reductionGrad(tf.Sum, false), reductionGrad(tf.Mean, true)];

/** Registers the fixes over tfjs's own gradients (a later tf.registerGradient replaces the earlier one). */
export function registerGradientFixes(): void {
  for (const g of GRADIENT_FIXES) tf.registerGradient(g);
}
