/**
 * NaN/Inf in weights: a model that holds them predicts only NaN, so every command that reads a checkpoint refuses
 * one (naming the file and tensor) unless allowed (the CLI's --allow-nonfinite, a process-wide setting).
 */
let allowNonFinite = false;

/** Whether weights with NaN/Inf values may be read (default false). */
export function setAllowNonFiniteWeights(allow: boolean): void {
  allowNonFinite = allow;
}

export function allowNonFiniteWeights(): boolean {
  return allowNonFinite;
}

/** Number of NaN/Inf values in `data`. */
export function countNonFinite(data: ArrayLike<number>): number {
  let n = 0;
  // x - x is 0 for every finite x and NaN for NaN and +-Inf.
  for (let i = 0; i < data.length; i++) if (data[i] - data[i] !== 0) n++;
  return n;
}

/** Throws (naming the file and tensor) when `data` holds NaN/Inf, unless allowed (setAllowNonFiniteWeights). */
export function assertFiniteWeights(data: ArrayLike<number>, key: string, source: string, allow = allowNonFinite): void {
  if (allow) return;
  const n = countNonFinite(data);
  if (n) throw new Error(`${source}: tensor '${key}' has ${n} NaN/Inf value(s) of ${data.length}; refusing to load it (pass --allow-nonfinite to load anyway)`);
}

/**
 * The smallest magnitude each float dtype rounds to Inf (round to nearest even): F16's largest value is 65504 and
 * 65520 is half way to the next power of two; BF16 rounds f32 bits 0x7f7f8000 (3.3961775e38) and above up to Inf.
 */
const OVERFLOW: Record<string, number> = { F16: 65520, BF16: 3.3961775292304e38, F32: 3.4028235677973366e38 };

/** Throws (naming the tensor) when finite values of `data` would become Inf in `dtype` (e.g. 1e5 in F16), unless allowed. */
export function assertFitsDtype(data: ArrayLike<number>, key: string, source: string, dtype: string, allow = allowNonFinite): void {
  const limit = OVERFLOW[dtype];
  if (allow || limit === undefined) return;
  let n = 0;
  let worst = 0;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (a >= limit && a !== Infinity) {
      n++;
      worst = Math.max(worst, a);
    }
  }
  if (n)
    throw new Error(
      `${source}: tensor '${key}' has ${n} value(s) too large for ${dtype} (up to ${worst.toExponential(3)}; ${dtype} overflows to Inf from ${limit.toPrecision(5)}); ` +
        `convert to ${dtype === 'F16' ? 'bf16 or f32' : 'f32'} instead (or pass --allow-nonfinite to write Inf)`,
    );
}
