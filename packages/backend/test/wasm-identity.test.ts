import * as tf from '@tensorflow/tfjs-core';
import { appliedPatches } from '@altclip/backend';
import { loadBackends } from './helpers';

beforeAll(loadBackends);

test('wasm Identity shares the buffer: a clone outlives its source and frees it last', async () => {
  expect(appliedPatches().some((p) => p.backend === 'wasm' && p.kernel === 'Identity')).toBe(true);
  await tf.setBackend('wasm');
  const backend = tf.engine().backend;
  const before = backend.numDataIds();
  const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
  const c = tf.clone(a);
  expect(backend.numDataIds()).toBe(before + 1); // one buffer, two tensors
  a.dispose();
  expect(Array.from(c.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
  expect(c.shape).toEqual([2, 3]);
  c.dispose();
  expect(backend.numDataIds()).toBe(before);
});

test('three Adam steps (clones saved on the tape, variables re-assigned) give the same parameters on wasm and cpu', async () => {
  const run = async (be: 'wasm' | 'cpu') => {
    await tf.setBackend(be);
    const w = tf.variable(tf.tensor2d([0.5, -1, 2, 0.25, -0.75, 1.5], [3, 2]));
    const x = tf.tensor2d([1, 2, 3, -1, 0.5, 2], [2, 3]);
    const opt = tf.train.adam(0.1);
    for (let i = 0; i < 3; i++) opt.minimize(() => tf.sum(tf.square(tf.sub(tf.tanh(tf.matMul(x, w)), 0.3))) as tf.Scalar);
    const out = Array.from(w.dataSync());
    opt.dispose();
    tf.dispose([w, x]);
    return out;
  };
  const wasm = await run('wasm');
  const cpu = await run('cpu');
  wasm.forEach((v, i) => expect(v).toBeCloseTo(cpu[i], 5));
  expect(wasm).not.toEqual([0.5, -1, 2, 0.25, -0.75, 1.5]); // the steps changed the parameters
});
