/**
 * The linear layer with bf16 products (precision.ts's amp_bf16 / bf16), on @altclip/native's bf16 kernels
 * (its src/bf16.ts): the input is rounded to bf16 once, the forward reads that copy, and the backward pass keeps only
 * it (2 bytes per value, where the float32 path keeps the 4-byte input) and the float32 weight (a parameter, alive
 * anyway; rounded again while packed). Every product rounds its float32 operands to bf16 while packing them and
 * accumulates in float32, as torch.autocast's bf16 linear does (torch keeps a bf16 copy of the weight instead).
 */
import * as tf from '@tensorflow/tfjs-core';

const KERNEL = { toBf16: 'AltclipToBf16', gemm: 'AltclipGemmBf16' } as const;

function run(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}): tf.Tensor {
  return tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
}

/** x [rows, K] rounded to bf16: an int32 tensor of ceil(rows * K / 2) elements (two bf16 values each). */
export function toBf16(x: tf.Tensor): tf.Tensor {
  return run(KERNEL.toBf16, { x });
}

/** True when the bf16 kernels are registered on the current backend. */
export function bf16KernelsAvailable(): boolean {
  return tf.getKernel(KERNEL.gemm, tf.getBackend()) != null;
}

/** y = x W^T + b with bf16 products: x [rows, K], W [N, K], b [N] -> [rows, N]; gradients for x, W and b. */
export function linearBf16(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor): tf.Tensor2D {
  const [rows, K] = x.shape;
  const xShape = [rows, K];
  const bias = b && b.rank !== 1 ? tf.reshape(b, [-1]) : b;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xIn, wIn, bIn] = args as tf.Tensor[];
    const xs = toBf16(xIn);
    save([xs, wIn]);
    const value = run(KERNEL.gemm, bIn && args.length === 4 ? { a: xs, b: wIn, bias: bIn } : { a: xs, b: wIn }, { transposeB: true, aShape: xShape });
    xs.dispose(); // the saved copy (same data) stays for the backward pass
    return {
      value,
      gradFunc: (g: tf.Tensor, saved: tf.Tensor[]) => {
        // g: dL/dy [rows, N]
        const [xsSaved, wSaved] = saved;
        const dx = run(KERNEL.gemm, { a: g, b: wSaved }); // [rows, N] x [N, K]
        const dw = run(KERNEL.gemm, { a: g, b: xsSaved }, { transposeA: true, bShape: xShape }); // [N, rows] x [rows, K]
        return bIn && args.length === 4 ? [dx, dw, tf.sum(g, 0)] : [dx, dw];
      },
    };
  });
  return (bias ? f(x, w, bias) : f(x, w)) as tf.Tensor2D;
}
