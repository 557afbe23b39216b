// 8-lane float vectors (GCC/Clang vector extensions: one AVX register in the AVX2 clone, two SSE registers in the
// baseline one) and exp/erf/sigmoid, shared by the elementwise kernels (kernels.cc) and the fused ones (fused.cc),
// so both compute the same values. Auto-vectorisation does not handle exp's range reduction, so it is explicit.
// Include only from translation units compiled with target clones: the helpers are always_inline and take the
// instruction set of the function they are inlined into.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace altclip {
namespace fvec {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define FV_INLINE __attribute__((always_inline)) inline

FV_INLINE v8f splat(float f) { return v8f{f, f, f, f, f, f, f, f}; }
FV_INLINE v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, 32);
  return v;
}
FV_INLINE void store8(float* p, v8f v) { std::memcpy(p, &v, 32); }
FV_INLINE v8f vabs(v8f x) { return (v8f)((v8i)x & 0x7fffffff); }
FV_INLINE v8f withSign(v8f x, v8f s) { return (v8f)(((v8i)x & 0x7fffffff) | ((v8i)s & (int32_t)0x80000000)); }
FV_INLINE float hsum(v8f v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }
FV_INLINE float hmax(v8f v) {
  float m = v[0];
  for (int i = 1; i < 8; i++) m = v[i] > m ? v[i] : m;
  return m;
}

// exp(x): range reduction to r in [-ln2/2, ln2/2], degree-6 polynomial, scale by 2^n. ~2 ulp; exactly 0 below
// -87.3 (masks of -1e9 or finfo.min give zeros, as in tfjs) and inf above 88.7.
FV_INLINE v8f expV(v8f x) {
  v8f xc = x < -87.3f ? splat(-87.3f) : x;
  xc = xc > 88.7f ? splat(88.7f) : xc;
  v8f t = xc * 1.44269504088896341f + 0.5f;
  v8i ni = __builtin_convertvector(t, v8i);  // truncates toward zero
  v8f nf = __builtin_convertvector(ni, v8f);
  v8i fix = nf > t;  // -1 where truncation rounded up (negative t): floor = trunc - 1
  ni = ni + fix;
  nf = __builtin_convertvector(ni, v8f);
  v8f r = xc - nf * 0.693359375f;
  r = r - nf * -2.12194440e-4f;
  v8f p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  v8f y = p * (v8f)((ni + 127) << 23);
  y = x < -87.3f ? splat(0.0f) : y;
  y = x > 88.7f ? splat(INFINITY) : y;
  return y;
}

// Abramowitz & Stegun 7.1.26, as tfjs's cpu/wasm Erf kernels.
FV_INLINE v8f erfV(v8f x) {
  v8f ax = vabs(x);
  v8f t = 1.0f / (1.0f + 0.3275911f * ax);
  v8f poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  return withSign(1.0f - poly * expV(-ax * ax), x);
}

FV_INLINE v8f sigmoidV(v8f x) { return 1.0f / (1.0f + expV(-x)); }

// Loads n < 8 floats, the rest of the lanes `fill`.
FV_INLINE v8f loadTail(const float* p, size_t n, float fill) {
  float buf[8] = {fill, fill, fill, fill, fill, fill, fill, fill};
  std::memcpy(buf, p, n * 4);
  return load8(buf);
}
FV_INLINE void storeTail(float* p, v8f v, size_t n) {
  float buf[8];
  store8(buf, v);
  std::memcpy(p, buf, n * 4);
}

}  // namespace fvec
}  // namespace altclip
