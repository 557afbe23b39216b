#include "ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "pool.h"

namespace altclip {
namespace {

constexpr size_t kCopyGrain = 1 << 18;  // elements per parallel chunk of a copy (memory-bound)

int32_t toInt32(float f) {
  if (!std::isfinite(f)) return 0;
  double d = std::trunc((double)f);
  if (d >= -2147483648.0 && d <= 2147483647.0) return (int32_t)d;
  double m = std::fmod(d, 4294967296.0);  // JS ToInt32: modulo 2^32, then into the signed range
  if (m < 0) m += 4294967296.0;
  return (int32_t)(uint32_t)m;
}

template <typename In, typename Out, typename F>
void convert(const void* x, void* out, size_t n, F f) {
  const In* a = static_cast<const In*>(x);
  Out* o = static_cast<Out*>(out);
  parallelFor(n, kCopyGrain, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) o[i] = f(a[i]);
  });
}

}  // namespace

void cast(const void* x, int inType, void* out, int outType, size_t n) {
  if (inType == outType) {
    std::memcpy(out, x, n * dtypeBytes(inType));
    return;
  }
  switch (inType * 3 + outType) {
    case kF32 * 3 + kI32: return convert<float, int32_t>(x, out, n, toInt32);
    case kF32 * 3 + kBool: return convert<float, uint8_t>(x, out, n, [](float v) -> uint8_t { return v != 0.0f || std::isnan(v); });
    case kI32 * 3 + kF32: return convert<int32_t, float>(x, out, n, [](int32_t v) { return (float)v; });
    case kI32 * 3 + kBool: return convert<int32_t, uint8_t>(x, out, n, [](int32_t v) -> uint8_t { return v != 0; });
    case kBool * 3 + kF32: return convert<uint8_t, float>(x, out, n, [](uint8_t v) { return v ? 1.0f : 0.0f; });
    case kBool * 3 + kI32: return convert<uint8_t, int32_t>(x, out, n, [](uint8_t v) -> int32_t { return v ? 1 : 0; });
  }
}

void fill(void* out, int dtype, double value, size_t n) {
  if (dtype == kF32) {
    float v = (float)value;
    float* o = static_cast<float*>(out);
    parallelFor(n, kCopyGrain, [&](size_t b, size_t e) { std::fill(o + b, o + e, v); });
  } else if (dtype == kI32) {
    int32_t v = (int32_t)value;
    int32_t* o = static_cast<int32_t*>(out);
    parallelFor(n, kCopyGrain, [&](size_t b, size_t e) { std::fill(o + b, o + e, v); });
  } else {
    std::memset(out, value != 0 ? 1 : 0, n);
  }
}

namespace {

// Innermost dimension of a copy, specialised on the element size and unit strides (the common case: rows).
template <typename T>
void copyRow(const char* src, char* dst, int64_t n, int64_t ss, int64_t ds) {
  const T* s = reinterpret_cast<const T*>(src);
  T* d = reinterpret_cast<T*>(dst);
  if (ss == 1 && ds == 1) std::memcpy(d, s, (size_t)n * sizeof(T));
  else if (ss == 0 && ds == 1) std::fill(d, d + n, s[0]);
  else for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];
}

void copyRows(const char* src, char* dst, size_t elem, const int64_t* dims, const int64_t* ss, const int64_t* ds, int rank, size_t rowBegin,
              size_t rowEnd) {
  // Rows are the index space of dims[0..rank-2]; each row copies dims[rank-1] elements.
  int last = rank - 1;
  int64_t idx[16] = {0};
  size_t r = rowBegin;
  for (int d = last - 1; d >= 0; d--) {
    idx[d] = (int64_t)(r % (size_t)dims[d]);
    r /= (size_t)dims[d];
  }
  for (size_t row = rowBegin; row < rowEnd; row++) {
    int64_t so = 0, dof = 0;
    for (int d = 0; d < last; d++) {
      so += idx[d] * ss[d];
      dof += idx[d] * ds[d];
    }
    const char* s = src + so * (int64_t)elem;
    char* t = dst + dof * (int64_t)elem;
    if (elem == 4) copyRow<uint32_t>(s, t, dims[last], ss[last], ds[last]);
    else copyRow<uint8_t>(s, t, dims[last], ss[last], ds[last]);
    for (int d = last - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

void stridedCopy(const char* src, char* dst, size_t elem, const int64_t* dims, const int64_t* srcStrides, const int64_t* dstStrides,
                 int rank) {
  size_t rows = 1;
  for (int d = 0; d < rank - 1; d++) rows *= (size_t)dims[d];
  size_t rowLen = (size_t)dims[rank - 1];
  size_t grain = std::max<size_t>(1, kCopyGrain / std::max<size_t>(1, rowLen));
  parallelFor(rows, grain, [&](size_t b, size_t e) { copyRows(src, dst, elem, dims, srcStrides, dstStrides, rank, b, e); });
}

}  // namespace altclip
