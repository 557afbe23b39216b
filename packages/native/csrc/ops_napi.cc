// N-API bindings of ops.h (see napi_util.h for the heap/offset convention).
#include "ops.h"

#include "napi_util.h"

namespace altclip_napi {
namespace {

int dtypeArg(Args& a, size_t i, const char* fn) {
  size_t t = a.size(i);
  if (t > 2) throw ArgError{std::string(fn) + ": unknown dtype code " + std::to_string(t)};
  return (int)t;
}

// cast(heap, xOff, inType, outOff, outType, n)
napi_value Cast(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6, "cast");
    a.heap(0);
    int it = dtypeArg(a, 2, "cast"), ot = dtypeArg(a, 4, "cast");
    size_t n = a.size(5);
    altclip::cast(a.bytes(1, n, altclip::dtypeBytes(it)), it, a.bytes(3, n, altclip::dtypeBytes(ot)), ot, n);
    return undefinedValue(env);
  });
}

// fill(heap, outOff, dtype, value, n)
napi_value Fill(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5, "fill");
    a.heap(0);
    int dt = dtypeArg(a, 2, "fill");
    size_t n = a.size(4);
    altclip::fill(a.bytes(1, n, altclip::dtypeBytes(dt)), dt, a.num(3), n);
    return undefinedValue(env);
  });
}

std::vector<int64_t> signedInts(napi_env env, napi_value v, const char* fn, const char* what) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float64_array)
    throw ArgError{std::string(fn) + ": " + what + " must be a Float64Array"};
  const double* p = static_cast<const double*>(data);
  std::vector<int64_t> out(length);
  for (size_t k = 0; k < length; k++) {
    if (p[k] != (double)(int64_t)p[k]) throw ArgError{std::string(fn) + ": " + what + " must hold integers"};
    out[k] = (int64_t)p[k];
  }
  return out;
}

// stridedCopy(heap, srcOff, dstOff, elemBytes, dims Float64Array, srcStrides Float64Array, dstStrides Float64Array)
// Offsets point at element (0, ..., 0); strides are in elements and may be negative or 0.
napi_value StridedCopy(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7, "stridedCopy");
    a.heap(0);
    size_t elem = a.size(3);
    if (elem != 1 && elem != 4) throw ArgError{"stridedCopy: element size must be 1 or 4 bytes"};
    std::vector<int64_t> dims = signedInts(env, a.value(4), "stridedCopy", "dims");
    std::vector<int64_t> ss = signedInts(env, a.value(5), "stridedCopy", "srcStrides");
    std::vector<int64_t> ds = signedInts(env, a.value(6), "stridedCopy", "dstStrides");
    int rank = (int)dims.size();
    if (rank < 1 || rank > 16 || (int)ss.size() != rank || (int)ds.size() != rank) throw ArgError{"stridedCopy: dims and strides must have equal length 1..16"};
    // Bounds: the lowest and highest element each side touches, relative to its base offset.
    int64_t sLo = 0, sHi = 0, dLo = 0, dHi = 0;
    for (int d = 0; d < rank; d++) {
      if (dims[d] < 1) return undefinedValue(env);  // nothing to copy
      int64_t span = dims[d] - 1;
      (ss[d] < 0 ? sLo : sHi) += span * ss[d];
      (ds[d] < 0 ? dLo : dHi) += span * ds[d];
    }
    size_t sOff = a.size(1), dOff = a.size(2);
    if ((int64_t)sOff + sLo * (int64_t)elem < 0 || (int64_t)dOff + dLo * (int64_t)elem < 0) throw ArgError{"stridedCopy: negative strides run before the heap"};
    const char* src = a.bytes(1, (size_t)(sHi + 1), elem);
    char* dst = a.bytes(2, (size_t)(dHi + 1), elem);
    altclip::stridedCopy(src, dst, elem, dims.data(), ss.data(), ds.data(), rank);
    return undefinedValue(env);
  });
}

}  // namespace

void registerOps(napi_env env, napi_value exports) {
  defineFunctions(env, exports, {{"cast", Cast}, {"fill", Fill}, {"stridedCopy", StridedCopy}});
}

}  // namespace altclip_napi
