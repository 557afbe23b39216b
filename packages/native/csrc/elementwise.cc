#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops.h"
#include "pool.h"

// As in kernels.cc: on x86-64 the loops are compiled for x86-64-v3 (AVX2) and baseline, picked at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VEC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VEC_CLONES
#endif
#define INLINE __attribute__((always_inline)) inline

namespace altclip {
namespace {

// Elements per parallel chunk: memory-bound loops split only when large (see kernels.cc); scalar libm calls sooner.
constexpr size_t kGrain = 1 << 20;
constexpr size_t kLibmGrain = 1 << 15;

// int32 arithmetic as tfjs does it (a double result stored into an Int32Array, i.e. modulo 2^32).
INLINE int32_t wrapAdd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
INLINE int32_t wrapSub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
// A product beyond 2^53 is rounded in double before JS's ToInt32, so its low bits differ from the exact product's.
int32_t jsToInt32(double d) {
  double m = std::fmod(std::trunc(d), 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return (int32_t)(uint32_t)m;
}
INLINE int32_t wrapMul(int32_t a, int32_t b) {
  int64_t p = (int64_t)a * (int64_t)b;
  if (p < (int64_t(1) << 53) && p > -(int64_t(1) << 53)) return (int32_t)(uint32_t)(uint64_t)p;
  return jsToInt32((double)p);
}

// ---- unary ----

template <typename T, typename F>
INLINE void mapRange(const T* __restrict x, T* __restrict o, size_t n, F f) {
  for (size_t i = 0; i < n; i++) o[i] = f(x[i]);
}

VEC_CLONES void unaryF32(int op, const float* __restrict x, float* __restrict o, size_t n, float p0, float p1) {
  switch (op) {
    case kAbs: mapRange(x, o, n, [](float v) { return std::fabs(v); }); break;
    case kFloor: mapRange(x, o, n, [](float v) { return std::floor(v); }); break;
    case kCeil: mapRange(x, o, n, [](float v) { return std::ceil(v); }); break;
    // tfjs's banker's rounding, step by step (unlike nearbyint, it turns -0.5 into +0)
    case kRound:
      mapRange(x, o, n, [](float v) {
        float base = std::floor(v), d = v - base;
        if (d < 0.5f) return base;
        if (d > 0.5f) return std::ceil(v);
        return std::fmod(base, 2.0f) == 0.0f ? base : base + 1.0f;
      });
      break;
    // Math.log / Math.log1p in double, rounded to float32 (tfjs); not vectorised: only small tensors (log-softmax) use it.
    case kLog: mapRange(x, o, n, [](float v) { return (float)std::log((double)v); }); break;
    case kLog1p: mapRange(x, o, n, [](float v) { return (float)std::log1p((double)v); }); break;
    case kStep: mapRange(x, o, n, [p0](float v) { return v != v ? v : (v > 0.0f ? 1.0f : p0); }); break;
    // v > max ? max : (v < min ? min : v): a NaN passes through
    case kClip: mapRange(x, o, n, [p0, p1](float v) { return v > p1 ? p1 : (v < p0 ? p0 : v); }); break;
    // Math.max(0, v): NaN stays NaN, -0 becomes 0
    case kReluEx: mapRange(x, o, n, [](float v) { return v != v ? v : (v > 0.0f ? v : 0.0f); }); break;
    case kReciprocal: mapRange(x, o, n, [](float v) { return 1.0f / v; }); break;
    case kSign: mapRange(x, o, n, [](float v) { return v < 0.0f ? -1.0f : (v > 0.0f ? 1.0f : 0.0f); }); break;
  }
}

VEC_CLONES void unaryI32(int op, const int32_t* __restrict x, int32_t* __restrict o, size_t n, int32_t p0, int32_t p1) {
  switch (op) {
    // tfjs computes int32 abs through a Float32Array: |v| rounded to float32, then wrapped into int32
    case kAbs: mapRange(x, o, n, [](int32_t v) { return (int32_t)(uint32_t)(int64_t)std::fabs((float)v); }); break;
    case kReluEx: mapRange(x, o, n, [](int32_t v) { return v > 0 ? v : 0; }); break;
    case kSign: mapRange(x, o, n, [](int32_t v) { return v < 0 ? -1 : (v > 0 ? 1 : 0); }); break;
    case kClip: mapRange(x, o, n, [p0, p1](int32_t v) { return v > p1 ? p1 : (v < p0 ? p0 : v); }); break;
  }
}

// ---- binary ----

// One output row: `sa`/`sb` are 1 (walk) or 0 (broadcast one value).
template <typename T, typename O, typename F>
INLINE void rowLoop(const T* __restrict a, int sa, const T* __restrict b, int sb, O* __restrict o, size_t n, F f) {
  if (sa && sb) {
    for (size_t i = 0; i < n; i++) o[i] = f(a[i], b[i]);
  } else if (sa) {
    const T bv = b[0];
    for (size_t i = 0; i < n; i++) o[i] = f(a[i], bv);
  } else if (sb) {
    const T av = a[0];
    for (size_t i = 0; i < n; i++) o[i] = f(av, b[i]);
  } else {
    const O v = f(a[0], b[0]);
    for (size_t i = 0; i < n; i++) o[i] = v;
  }
}

// Math.pow in double, rounded to float32. The exponents a norm and its gradient use (2, 1, 0) are exact shortcuts:
// a float's square is exact in double, so rounding it once gives the same float.
// JS differs from C where the base is +-1: Math.pow(1, NaN) and Math.pow(+-1, +-Inf) are NaN.
INLINE float powF(float x, float y) {
  if (y != y || (std::isinf(y) && std::fabs(x) == 1.0f)) return NAN;
  return (float)std::pow((double)x, (double)y);
}

VEC_CLONES void powRow(const float* __restrict a, int sa, const float* __restrict b, int sb, float* __restrict o, size_t n) {
  if (!sb && b[0] == 2.0f) return rowLoop(a, sa, b, sb, o, n, [](float x, float) { return x * x; });
  if (!sb && b[0] == 1.0f) return rowLoop(a, sa, b, sb, o, n, [](float x, float) { return x; });
  if (!sb && b[0] == 0.0f) return rowLoop(a, sa, b, sb, o, n, [](float, float) { return 1.0f; });
  rowLoop(a, sa, b, sb, o, n, powF);
}

template <typename T>
INLINE void compareRow(int op, const T* a, int sa, const T* b, int sb, uint8_t* o, size_t n) {
  switch (op) {
    case kEqual: rowLoop(a, sa, b, sb, o, n, [](T x, T y) -> uint8_t { return x == y; }); break;
    case kNotEqual: rowLoop(a, sa, b, sb, o, n, [](T x, T y) -> uint8_t { return x != y; }); break;
    case kGreater: rowLoop(a, sa, b, sb, o, n, [](T x, T y) -> uint8_t { return x > y; }); break;
    case kGreaterEqual: rowLoop(a, sa, b, sb, o, n, [](T x, T y) -> uint8_t { return x >= y; }); break;
    case kLess: rowLoop(a, sa, b, sb, o, n, [](T x, T y) -> uint8_t { return x < y; }); break;
    case kLessEqual: rowLoop(a, sa, b, sb, o, n, [](T x, T y) -> uint8_t { return x <= y; }); break;
  }
}

VEC_CLONES void compareRowF32(int op, const float* a, int sa, const float* b, int sb, uint8_t* o, size_t n) { compareRow(op, a, sa, b, sb, o, n); }
VEC_CLONES void compareRowI32(int op, const int32_t* a, int sa, const int32_t* b, int sb, uint8_t* o, size_t n) { compareRow(op, a, sa, b, sb, o, n); }
VEC_CLONES void compareRowU8(int op, const uint8_t* a, int sa, const uint8_t* b, int sb, uint8_t* o, size_t n) {
  if (op == kLogicalAnd) return rowLoop(a, sa, b, sb, o, n, [](uint8_t x, uint8_t y) -> uint8_t { return x && y; });
  if (op == kLogicalOr) return rowLoop(a, sa, b, sb, o, n, [](uint8_t x, uint8_t y) -> uint8_t { return x || y; });
  compareRow(op, a, sa, b, sb, o, n);
}

VEC_CLONES void arithRowI32(int op, const int32_t* a, int sa, const int32_t* b, int sb, int32_t* o, size_t n) {
  switch (op) {
    case kAddEx: rowLoop(a, sa, b, sb, o, n, wrapAdd); break;
    case kSubEx: rowLoop(a, sa, b, sb, o, n, wrapSub); break;
    case kMulEx: rowLoop(a, sa, b, sb, o, n, wrapMul); break;
    case kMaxEx: rowLoop(a, sa, b, sb, o, n, [](int32_t x, int32_t y) { return x > y ? x : y; }); break;
    case kMinEx: rowLoop(a, sa, b, sb, o, n, [](int32_t x, int32_t y) { return x < y ? x : y; }); break;
  }
}

VEC_CLONES void arithRowF32(int op, const float* a, int sa, const float* b, int sb, float* o, size_t n) {
  switch (op) {
    case kAddEx: rowLoop(a, sa, b, sb, o, n, [](float x, float y) { return x + y; }); break;
    case kSubEx: rowLoop(a, sa, b, sb, o, n, [](float x, float y) { return x - y; }); break;
    case kMulEx: rowLoop(a, sa, b, sb, o, n, [](float x, float y) { return x * y; }); break;
    case kMaxEx: rowLoop(a, sa, b, sb, o, n, [](float x, float y) { return x != x || y != y ? x + y : (x > y ? x : y); }); break;
    case kMinEx: rowLoop(a, sa, b, sb, o, n, [](float x, float y) { return x != x || y != y ? x + y : (x < y ? x : y); }); break;
    case kPowEx: powRow(a, sa, b, sb, o, n); break;
  }
}

bool isCompare(int op) { return op >= kEqual && op <= kLessEqual; }

// ---- scans and arg-reductions ----

template <typename T, typename Add>
INLINE void scanStrip(const T* __restrict x, T* __restrict o, size_t n, size_t inner, size_t len, bool exclusive, bool reverse, Add add) {
  // o[j] (a strip of `len` lanes, row stride `inner`) = sum of x over rows before j (exclusive) or up to j.
  for (size_t k = 0; k < n; k++) {
    size_t j = reverse ? n - 1 - k : k;
    T* oj = o + j * inner;
    const T* xj = x + j * inner;
    if (k == 0) {
      for (size_t i = 0; i < len; i++) oj[i] = exclusive ? T(0) : xj[i];
    } else {
      size_t p = reverse ? j + 1 : j - 1;
      const T* op = o + p * inner;
      const T* xp = x + p * inner;
      if (exclusive)
        for (size_t i = 0; i < len; i++) oj[i] = add(xp[i], op[i]);
      else
        for (size_t i = 0; i < len; i++) oj[i] = add(xj[i], op[i]);
    }
  }
}

VEC_CLONES void scanF32(const float* x, float* o, size_t n, size_t inner, size_t len, bool ex, bool rev) {
  scanStrip(x, o, n, inner, len, ex, rev, [](float a, float b) { return a + b; });
}
VEC_CLONES void scanI32(const int32_t* x, int32_t* o, size_t n, size_t inner, size_t len, bool ex, bool rev) {
  scanStrip(x, o, n, inner, len, ex, rev, wrapAdd);
}

template <typename T>
INLINE void argStrip(bool isMin, const T* __restrict x, int32_t* __restrict out, size_t n, size_t inner, size_t len) {
  // tfjs: best = x[0]; idx = 0; for j: if (v > best) take it (v < best for argMin).
  T best[64];
  for (size_t i = 0; i < len; i++) {
    best[i] = x[i];
    out[i] = 0;
  }
  for (size_t j = 1; j < n; j++) {
    const T* r = x + j * inner;
    if (isMin) {
      for (size_t i = 0; i < len; i++) {
        bool take = r[i] < best[i];
        best[i] = take ? r[i] : best[i];
        out[i] = take ? (int32_t)j : out[i];
      }
    } else {
      for (size_t i = 0; i < len; i++) {
        bool take = r[i] > best[i];
        best[i] = take ? r[i] : best[i];
        out[i] = take ? (int32_t)j : out[i];
      }
    }
  }
}

VEC_CLONES void argStripF32(bool isMin, const float* x, int32_t* out, size_t n, size_t inner, size_t len) { argStrip(isMin, x, out, n, inner, len); }
VEC_CLONES void argStripI32(bool isMin, const int32_t* x, int32_t* out, size_t n, size_t inner, size_t len) { argStrip(isMin, x, out, n, inner, len); }

template <typename T>
void argRows(bool isMin, const T* x, int32_t* out, size_t rows, size_t n) {
  size_t grain = std::max<size_t>(1, kGrain / std::max<size_t>(n, 1));
  parallelFor(rows, grain, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const T* row = x + r * n;
      T best = row[0];
      int32_t idx = 0;
      for (size_t j = 1; j < n; j++) {
        if (isMin ? row[j] < best : row[j] > best) {
          best = row[j];
          idx = (int32_t)j;
        }
      }
      out[r] = idx;
    }
  });
}

VEC_CLONES void addRow(float* __restrict o, const float* __restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] += x[i];
}
VEC_CLONES void addRowI32(int32_t* __restrict o, const int32_t* __restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = wrapAdd(o[i], x[i]);
}

}  // namespace

void unaryEx(int op, int dtype, const void* x, void* out, size_t n, double p0, double p1) {
  bool libm = op == kLog || op == kLog1p;
  parallelFor(n, libm ? kLibmGrain : kGrain, [&](size_t b, size_t e) {
    if (dtype == kI32) unaryI32(op, static_cast<const int32_t*>(x) + b, static_cast<int32_t*>(out) + b, e - b, (int32_t)p0, (int32_t)p1);
    else unaryF32(op, static_cast<const float*>(x) + b, static_cast<float*>(out) + b, e - b, (float)p0, (float)p1);
  });
}

bool binaryExValid(int op, int dtype) {
  if (isCompare(op)) return dtype == kF32 || dtype == kI32 || dtype == kBool;
  if (op == kLogicalAnd || op == kLogicalOr) return dtype == kBool;
  if (op == kPowEx) return dtype == kF32;
  if (op >= kAddEx && op <= kMinEx) return dtype == kF32 || dtype == kI32;
  return false;
}

void binaryEx(int op, int dtype, const void* a, const void* b, void* out, const int32_t* dims, const int32_t* as, const int32_t* bs, int rank) {
  const size_t inner = (size_t)dims[rank - 1];
  const int sa = as[rank - 1], sb = bs[rank - 1];
  const size_t ea = dtypeBytes(dtype);
  const size_t eo = isCompare(op) || op == kLogicalAnd || op == kLogicalOr ? 1 : ea;
  size_t rows = 1;
  for (int d = 0; d < rank - 1; d++) rows *= (size_t)dims[d];
  bool libm = op == kPowEx && !(sb == 0 && (*(const float*)b == 2.0f || *(const float*)b == 1.0f || *(const float*)b == 0.0f));
  size_t grain = std::max<size_t>(1, (libm ? kLibmGrain : kGrain) / std::max<size_t>(inner, 1));
  parallelFor(rows, grain, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      size_t rem = r, ao = 0, bo = 0;
      for (int d = rank - 2; d >= 0; d--) {
        size_t c = rem % (size_t)dims[d];
        rem /= (size_t)dims[d];
        ao += c * (size_t)as[d];
        bo += c * (size_t)bs[d];
      }
      const char* pa = static_cast<const char*>(a) + ao * ea;
      const char* pb = static_cast<const char*>(b) + bo * ea;
      char* po = static_cast<char*>(out) + r * inner * eo;
      if (eo == 1) {
        if (dtype == kF32) compareRowF32(op, (const float*)pa, sa, (const float*)pb, sb, (uint8_t*)po, inner);
        else if (dtype == kI32) compareRowI32(op, (const int32_t*)pa, sa, (const int32_t*)pb, sb, (uint8_t*)po, inner);
        else compareRowU8(op, (const uint8_t*)pa, sa, (const uint8_t*)pb, sb, (uint8_t*)po, inner);
      } else if (dtype == kF32) {
        arithRowF32(op, (const float*)pa, sa, (const float*)pb, sb, (float*)po, inner);
      } else {
        arithRowI32(op, (const int32_t*)pa, sa, (const int32_t*)pb, sb, (int32_t*)po, inner);
      }
    }
  });
}

void cumsum(int dtype, const void* x, void* out, size_t outer, size_t n, size_t inner, bool exclusive, bool reverse) {
  // Tasks: (outer index, strip of the inner axis); each scans its strip down the n rows.
  const size_t strip = std::min<size_t>(inner, 1024);
  const size_t strips = (inner + strip - 1) / strip;
  size_t grain = std::max<size_t>(1, kGrain / std::max<size_t>(n * strip, 1));
  parallelFor(outer * strips, grain, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; t++) {
      size_t o = t / strips, i0 = (t % strips) * strip, len = std::min(strip, inner - i0);
      size_t base = o * n * inner + i0;
      if (dtype == kI32) scanI32(static_cast<const int32_t*>(x) + base, static_cast<int32_t*>(out) + base, n, inner, len, exclusive, reverse);
      else scanF32(static_cast<const float*>(x) + base, static_cast<float*>(out) + base, n, inner, len, exclusive, reverse);
    }
  });
}

void argReduce(bool isMin, int dtype, const void* x, int32_t* out, size_t outer, size_t n, size_t inner) {
  if (inner == 1) {
    if (dtype == kI32) argRows(isMin, static_cast<const int32_t*>(x), out, outer, n);
    else argRows(isMin, static_cast<const float*>(x), out, outer, n);
    return;
  }
  const size_t strip = 64;  // lanes per task (argStrip's running maxima live on the stack)
  const size_t strips = (inner + strip - 1) / strip;
  size_t grain = std::max<size_t>(1, kGrain / std::max<size_t>(n * strip, 1));
  parallelFor(outer * strips, grain, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; t++) {
      size_t o = t / strips, i0 = (t % strips) * strip, len = std::min(strip, inner - i0);
      size_t base = o * n * inner + i0;
      int32_t* dst = out + o * inner + i0;
      if (dtype == kI32) argStripI32(isMin, static_cast<const int32_t*>(x) + base, dst, n, inner, len);
      else argStripF32(isMin, static_cast<const float*>(x) + base, dst, n, inner, len);
    }
  });
}

void oneHot(const int32_t* idx, void* out, int dtype, size_t n, size_t depth, double on, double off) {
  fill(out, dtype, off, n * depth);
  for (size_t i = 0; i < n; i++) {
    int32_t k = idx[i];
    if (k < 0 || (size_t)k >= depth) continue;
    if (dtype == kI32) static_cast<int32_t*>(out)[i * depth + k] = (int32_t)on;
    else static_cast<float*>(out)[i * depth + k] = (float)on;
  }
}

void segmentSum(int dtype, const void* x, const int32_t* ids, void* out, size_t n, size_t d, size_t numSegments) {
  // Each task owns a range of segments: it zeroes their rows and adds the rows of x whose id falls in it, so no two
  // tasks write the same memory and each segment's rows are added in index order.
  size_t grain = std::max<size_t>(1, kGrain / 4 / std::max<size_t>(d, 1));
  parallelFor(numSegments, grain, [&](size_t s0, size_t s1) {
    if (dtype == kI32) {
      int32_t* o = static_cast<int32_t*>(out);
      const int32_t* xv = static_cast<const int32_t*>(x);
      std::memset(o + s0 * d, 0, (s1 - s0) * d * 4);
      for (size_t i = 0; i < n; i++) {
        int64_t s = ids[i];
        if (s >= (int64_t)s0 && s < (int64_t)s1) addRowI32(o + (size_t)s * d, xv + i * d, d);
      }
    } else {
      float* o = static_cast<float*>(out);
      const float* xv = static_cast<const float*>(x);
      std::memset(o + s0 * d, 0, (s1 - s0) * d * 4);
      for (size_t i = 0; i < n; i++) {
        int64_t s = ids[i];
        if (s >= (int64_t)s0 && s < (int64_t)s1) addRow(o + (size_t)s * d, xv + i * d, d);
      }
    }
  });
}

void addN(int dtype, const void* const* xs, size_t count, void* out, size_t n) {
  parallelFor(n, kGrain / 4, [&](size_t b, size_t e) {
    if (dtype == kI32) {
      int32_t* o = static_cast<int32_t*>(out) + b;
      std::memset(o, 0, (e - b) * 4);
      for (size_t k = 0; k < count; k++) addRowI32(o, static_cast<const int32_t*>(xs[k]) + b, e - b);
    } else {
      float* o = static_cast<float*>(out) + b;
      // 0 + x[0] first, as tfjs's loop does (turns -0 into 0)
      std::memset(o, 0, (e - b) * 4);
      for (size_t k = 0; k < count; k++) addRow(o, static_cast<const float*>(xs[k]) + b, e - b);
    }
  });
}

void selectEx(const uint8_t* cond, const void* a, const void* b, void* out, size_t elem, size_t n) {
  parallelFor(n, kGrain, [&](size_t s, size_t e) {
    if (elem == 4) {
      const uint32_t* pa = static_cast<const uint32_t*>(a);
      const uint32_t* pb = static_cast<const uint32_t*>(b);
      uint32_t* po = static_cast<uint32_t*>(out);
      for (size_t i = s; i < e; i++) po[i] = cond[i] ? pa[i] : pb[i];
    } else {
      const uint8_t* pa = static_cast<const uint8_t*>(a);
      const uint8_t* pb = static_cast<const uint8_t*>(b);
      uint8_t* po = static_cast<uint8_t*>(out);
      for (size_t i = s; i < e; i++) po[i] = cond[i] ? pa[i] : pb[i];
    }
  });
}

void rangeFill(int dtype, void* out, size_t n, double start, double step) {
  if (n == 0) return;
  if (dtype == kI32) {
    int32_t* o = static_cast<int32_t*>(out);
    o[0] = (int32_t)start;
    for (size_t i = 1; i < n; i++) o[i] = (int32_t)((double)o[i - 1] + step);
  } else {
    float* o = static_cast<float*>(out);
    o[0] = (float)start;
    for (size_t i = 1; i < n; i++) o[i] = (float)((double)o[i - 1] + step);
  }
}

}  // namespace altclip
