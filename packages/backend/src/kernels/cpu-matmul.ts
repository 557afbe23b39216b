import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelPatch } from './registry';

/**
 * tfjs 4.22's cpu BatchMatMul indexes batches modulo each operand's flattened batch size, which is right only when
 * one side's batch is 1 or both batch shapes are equal: [2,1,..] x [1,5,..] or [2,1,..] x [2,5,..] give wrong
 * values. Otherwise this expands both to the common batch shape first (Tile), then runs the stock kernel.
 */
export const cpuBatchMatMulPatch: KernelPatch = {
  kernelName: 'BatchMatMul',
  backendName: 'cpu',
  what: 'batch dims broadcast on both sides: operands expanded first (the stock kernel mis-indexes them)',
  make(original: KernelConfig | undefined): KernelFunc {
    if (!original) throw new Error('cpu BatchMatMul patch: no stock kernel to wrap');
    return (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const batchA = a.shape.slice(0, -2);
      const batchB = b.shape.slice(0, -2);
      const rank = Math.max(batchA.length, batchB.length);
      const pa = [...new Array(rank - batchA.length).fill(1), ...batchA];
      const pb = [...new Array(rank - batchB.length).fill(1), ...batchB];
      const out = pa.map((d, i) => Math.max(d, pb[i]));
      const size = (s: number[]) => s.reduce((p, q) => p * q, 1);
      const sa = size(pa), sb = size(pb);
      const same = pa.every((d, i) => d === pb[i]);
      if (same || sa === 1 || sb === 1 || pa.some((d, i) => d !== 1 && pb[i] !== 1 && d !== pb[i])) return original.kernelFunc(args);
      const tile = tf.getKernel('Tile', 'cpu')!.kernelFunc;
      // Same data with the batch padded to full rank, tiled to the common batch shape.
      const expand = (t: TensorInfo, padded: number[]) =>
        tile({ inputs: { x: { ...t, shape: [...padded, ...t.shape.slice(-2)] } }, backend: args.backend, attrs: { reps: [...padded.map((d, i) => out[i] / d), 1, 1] } }) as TensorInfo;
      const ea = expand(a, pa);
      const eb = expand(b, pb);
      try {
        return original.kernelFunc({ ...args, inputs: { a: ea, b: eb } });
      } finally {
        (args.backend as tf.KernelBackend).disposeData(ea.dataId);
        (args.backend as tf.KernelBackend).disposeData(eb.dataId);
      }
    };
  },
};
