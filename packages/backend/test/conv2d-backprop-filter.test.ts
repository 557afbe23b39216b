import * as tf from '@tensorflow/tfjs-core';
import { appliedPatches } from '@altclip/backend';
import { finiteDiff, loadBackends, on, rand, relErr, size } from './helpers';

beforeAll(loadBackends);

interface ConvCase {
  x: number[];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: 'valid' | 'same' | number;
  dataFormat: 'NHWC' | 'NCHW';
}

/** dy shape for a case, from tfjs's own conv geometry. */
function dyShape(c: ConvCase): number[] {
  const info = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.filter, c.strides, 1, c.pad, undefined, false, c.dataFormat === 'NHWC' ? 'channelsLast' : 'channelsFirst');
  return info.outShape;
}

const CASES: ConvCase[] = [
  { x: [2, 5, 5, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'valid', dataFormat: 'NHWC' },
  { x: [2, 7, 6, 2], filter: [3, 2, 2, 3], strides: [2, 1], pad: 'same', dataFormat: 'NHWC' },
  { x: [1, 8, 8, 3], filter: [4, 4, 3, 5], strides: [4, 4], pad: 'valid', dataFormat: 'NHWC' }, // patch embedding
  { x: [1, 5, 4, 2], filter: [3, 3, 2, 2], strides: [2, 2], pad: 1, dataFormat: 'NHWC' },
  { x: [2, 3, 6, 5], filter: [2, 3, 3, 2], strides: [1, 2], pad: 'same', dataFormat: 'NCHW' },
];

test('Conv2DBackpropFilter is registered for wasm', () => {
  expect(appliedPatches().some((p) => p.backend === 'wasm' && p.kernel === 'Conv2DBackpropFilter')).toBe(true);
});

test.each(CASES.map((c, i) => [`${c.dataFormat} x${JSON.stringify(c.x)} f${JSON.stringify(c.filter)} s${c.strides} ${c.pad}`, i, c] as const))(
  '%s: wasm = stock cpu',
  async (_n, i, c) => {
    const xv = rand(size(c.x), 50 + i);
    const dys = dyShape(c);
    const dyv = rand(size(dys), 60 + i);
    const f = () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, c.x), dy: tf.tensor(dyv, dys) }, {
        strides: c.strides,
        pad: c.pad,
        dataFormat: c.dataFormat,
        dimRoundingMode: undefined,
        filterShape: c.filter,
      } as never) as tf.Tensor;
    const [wasm] = await on('wasm', f);
    const [cpu] = await on('cpu', f);
    expect(wasm.length).toBe(size(c.filter));
    expect(relErr(wasm, cpu)).toBeLessThan(1e-5);
  },
);

/** float64 NHWC conv2d with explicit top/left padding, for finite differences. */
function refConv(x: Float64Array | Float32Array, xs: number[], k: Float64Array, ks: number[], s: number, padTop: number, padLeft: number, oh: number, ow: number): Float64Array {
  const [B, H, W, CI] = xs;
  const [KH, KW, , CO] = ks;
  const out = new Float64Array(B * oh * ow * CO);
  for (let b = 0; b < B; b++)
    for (let y = 0; y < oh; y++)
      for (let xq = 0; xq < ow; xq++)
        for (let co = 0; co < CO; co++) {
          let acc = 0;
          for (let kh = 0; kh < KH; kh++)
            for (let kw = 0; kw < KW; kw++) {
              const iy = y * s + kh - padTop;
              const ix = xq * s + kw - padLeft;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              for (let ci = 0; ci < CI; ci++) acc += x[((b * H + iy) * W + ix) * CI + ci] * k[((kh * KW + kw) * CI + ci) * CO + co];
            }
          out[((b * oh + y) * ow + xq) * CO + co] = acc;
        }
  return out;
}

test('filter gradient of conv2d on wasm matches float64 finite differences (stride 2, pad 1)', async () => {
  const xs = [2, 5, 5, 2];
  const ks = [3, 3, 2, 3];
  const [oh, ow] = [3, 3];
  const x = rand(size(xs), 90);
  const k = rand(size(ks), 91);
  const w = rand(2 * oh * ow * 3, 92);
  const loss = (kk: Float64Array) => refConv(x, xs, kk, ks, 2, 1, 1, oh, ow).reduce((s, v, i) => s + v * w[i], 0);
  const fd = finiteDiff(loss, Float64Array.from(k));
  const [g] = await on('wasm', () =>
    tf.grad((kk: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(tf.tensor4d(x, xs as never), kk as tf.Tensor4D, 2, 1), tf.tensor(w, [2, oh, ow, 3]))))(tf.tensor4d(k, ks as never)),
  );
  expect(relErr(g, fd)).toBeLessThan(1e-5);
});
