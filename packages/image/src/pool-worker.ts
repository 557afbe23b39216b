/** Worker thread body for PreprocessPool: one message = several files, their tensors sent back in one transferred array. */
import { parentPort } from 'worker_threads';
import sharp from 'sharp';
import { FileResult, fixedDims, preprocessFile, PoolReply, PoolTask } from './pool';

// One libvips thread per worker: the pool provides the parallelism. (libvips settings are process-wide.)
sharp.concurrency(1);
sharp.cache(false);

parentPort!.on('message', async (t: PoolTask) => {
  const d = fixedDims(t.opts);
  const per = d ? 3 * d[0] * d[1] : -1;
  // The task's tensors in one array of this worker's, moved to the main thread with the reply (see PoolReply).
  const out = d ? new Float32Array(per * t.paths.length) : undefined;
  const results: FileResult[] = [];
  const transfer: ArrayBuffer[] = out ? [out.buffer as ArrayBuffer] : [];
  for (const [k, file] of t.paths.entries()) {
    try {
      const r = await preprocessFile(file, t.opts, t.applyExif, out, k * per, per, t.maxPixels, true, t.bytes?.[k]);
      results.push(r);
      if (r.data) transfer.push(r.data.buffer as ArrayBuffer);
    } catch (e) {
      results.push({ error: (e as Error).message });
    }
  }
  parentPort!.postMessage({ id: t.id, results, out } satisfies PoolReply, transfer);
});
