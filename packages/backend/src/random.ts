/**
 * Deterministic randomness: every random choice of a run (initialisation, data order, dropout masks) is a pure
 * function of integers (seed, position), the same on every platform. One implementation for every package.
 */

/** mulberry32 with its state in view, so a stream can save where its generator stands and continue from there. */
export class Mulberry32 {
  constructor(public state: number) {
    this.state = state >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  const g = new Mulberry32(seed);
  return () => g.next();
}

/** 32-bit integer hash of several integers (splitmix-style mixing). */
export function hashInts(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
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
