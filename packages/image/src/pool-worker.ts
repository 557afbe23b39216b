/** Worker thread body for PreprocessPool: one message = one file, answered with a transferred Float32Array. */
import { parentPort } from 'worker_threads';
import sharp from 'sharp';
import { preprocessFile, PoolReply, PoolTask } from './pool';

// One libvips thread per worker: the pool provides the parallelism.
sharp.concurrency(1);
sharp.cache(false);

parentPort!.on('message', (t: PoolTask) => {
  preprocessFile(t.path, t.opts, t.applyExif).then(
    (r) => parentPort!.postMessage({ id: t.id, ...r } satisfies PoolReply, [r.data.buffer as ArrayBuffer]),
    (e: Error) => parentPort!.postMessage({ id: t.id, error: e.message } satisfies PoolReply),
  );
});
