/** Worker thread body for PreprocessPool: one message = several files, written into the shared batch when possible. */
import { parentPort } from 'worker_threads';
import sharp from 'sharp';
import { FileResult, fixedDims, preprocessFile, PoolReply, PoolTask } from './pool';

// One libvips thread per worker: the pool provides the parallelism. (libvips settings are process-wide.)
sharp.concurrency(1);
sharp.cache(false);

parentPort!.on('message', async (t: PoolTask) => {
  const out = t.out ? new Float32Array(t.out) : undefined;
  const d = fixedDims(t.opts);
  const expected = d ? 3 * d[0] * d[1] : -1;
  const results: FileResult[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const [k, file] of t.paths.entries()) {
    try {
      const r = await preprocessFile(file, t.opts, t.applyExif, out, t.offsets?.[k] ?? 0, expected, t.maxPixels, true, t.bytes?.[k]);
      results.push(r);
      if (r.data) transfer.push(r.data.buffer as ArrayBuffer);
    } catch (e) {
      results.push({ error: (e as Error).message });
    }
  }
  parentPort!.postMessage({ id: t.id, results } satisfies PoolReply, transfer);
});
