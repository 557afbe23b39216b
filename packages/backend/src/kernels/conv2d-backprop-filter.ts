import * as tf from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { attrsOf, type KernelPatch } from './registry';
import { type WasmBackend, reshaped } from './wasm-heap';

/**
 * Conv2DBackpropFilter (the filter gradient of conv2d, e.g. a ViT patch embedding written as a conv), which
 * tfjs-backend-wasm lacks. dW[kh, kw, ci, co] = sum_{b,oy,ox} x[b, oy*sy + kh - padTop, ox*sx + kw - padLeft, ci]
 * * dy[b, oy, ox, co], computed as im2col (built in JS straight into the heap) times dy on the XNNPACK matmul
 * path: colT [KH*KW*CI, P] x dy [P, CO], P = B*OH*OW.
 */
export const wasmConv2DBackpropFilterPatch: KernelPatch = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  what: 'added (conv2d filter gradient), im2col + XNNPACK matmul',
  make(): KernelFunc {
    return ({ inputs, backend, attrs }) => {
      const wasm = backend as WasmBackend; // tfjs types it `{}`; this kernel is registered for wasm only
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrsOf<Conv2DBackpropFilterAttrs>(attrs);
      if (x.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error(`Conv2DBackpropFilter: only float32 is supported, got ${x.dtype}/${dy.dtype}`);
      const fmt = backend_util.convertConv2DDataFormat(dataFormat);
      const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, fmt);
      const { batchSize: B, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW, outChannels: CO } = info;
      const { strideHeight: sy, strideWidth: sx, filterHeight: KH, filterWidth: KW } = info;
      const { top, left } = info.padInfo;
      const P = B * OH * OW;
      const rows = KH * KW * CI;
      // Element strides of x for (b, y, x, c) in either layout.
      const [xb, xy, xx, xc] = fmt === 'channelsLast' ? [H * W * CI, W * CI, CI, 1] : [CI * H * W, W, 1, H * W];

      const colT = wasm.makeOutput([rows, P], 'float32');
      const temps: TensorInfo[] = [colT];
      try {
        const src = wasm.typedArrayFromHeap(x) as Float32Array;
        const col = wasm.typedArrayFromHeap(colT) as Float32Array;
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) {
            for (let ci = 0; ci < CI; ci++) {
              let o = ((kh * KW + kw) * CI + ci) * P;
              for (let b = 0; b < B; b++) {
                for (let oy = 0; oy < OH; oy++) {
                  const iy = oy * sy + kh - top;
                  const rowOk = iy >= 0 && iy < H;
                  for (let ox = 0; ox < OW; ox++, o++) {
                    const ix = ox * sx + kw - left;
                    col[o] = rowOk && ix >= 0 && ix < W ? src[b * xb + iy * xy + ix * xx + ci * xc] : 0;
                  }
                }
              }
            }
          }
        }
        let dy2d: TensorInfo = reshaped(dy, [P, CO]);
        if (fmt === 'channelsFirst') {
          const t = tf.getKernel('Transpose', 'wasm')!.kernelFunc({ inputs: { x: dy }, backend, attrs: { perm: [0, 2, 3, 1] } }) as TensorInfo;
          temps.push(t);
          dy2d = reshaped(t, [P, CO]);
        }
        const mm = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
        const dw = mm({ inputs: { a: colT, b: dy2d }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
        return { dataId: dw.dataId, shape: [...filterShape], dtype: 'float32' };
      } finally {
        for (const t of temps) wasm.disposeData(t.dataId);
      }
    };
  },
};
