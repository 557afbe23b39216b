/** Small deterministic RNG utilities: every random choice of a run is a pure function of (seed, position). */
import { hashInts, mulberry32 } from '@altclip/data';

/** 32-bit integer hash of several integers (splitmix-style mixing); lives in @altclip/data, which streams with it. */
export { hashInts };

/** The seeded PRNG the data package shuffles with (one implementation for both). */
export { mulberry32 };

/** The sample order of epoch `epoch` (Fisher-Yates with a seed derived from (seed, epoch)). */
export function epochPermutation(n: number, seed: number, epoch: number, shuffle = true): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  if (!shuffle) return idx;
  const rnd = mulberry32(hashInts(seed, epoch, 0x5eed));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

/**
 * Runs `fn` with Math.random replaced by a generator seeded with `seed`. tfjs draws the seed of an unseeded
 * tf.dropout / tf.randomUniform from Math.random, so this makes dropout masks a pure function of the seed: a step is
 * reproducible, a resumed run matches an uninterrupted one, and accumulation's two passes see the same masks.
 */
export function withSeededRandom<T>(seed: number, fn: () => T): T {
  const orig = Math.random;
  Math.random = mulberry32(seed);
  try {
    return fn();
  } finally {
    Math.random = orig;
  }
}
