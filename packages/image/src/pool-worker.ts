/** Worker thread body for PreprocessPool: one message = one file, written into the shared batch when possible. */
import { parentPort } from 'worker_threads';
import sharp from 'sharp';
import { fixedDims, preprocessFile, PoolReply, PoolTask } from './pool';

// One libvips thread per worker: the pool provides the parallelism. (libvips settings are process-wide.)
sharp.concurrency(1);
sharp.cache(false);

parentPort!.on('message', (t: PoolTask) => {
  const out = t.out ? new Float32Array(t.out) : undefined;
  const d = fixedDims(t.opts);
  const expected = d ? 3 * d[0] * d[1] : -1;
  preprocessFile(t.path, t.opts, t.applyExif, out, t.offset ?? 0, expected, t.maxPixels).then(
    (r) => parentPort!.postMessage({ id: t.id, ...r } satisfies PoolReply, r.data ? [r.data.buffer as ArrayBuffer] : []),
    (e: Error) => parentPort!.postMessage({ id: t.id, error: e.message } satisfies PoolReply),
  );
});
