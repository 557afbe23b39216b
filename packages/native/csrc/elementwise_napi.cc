// N-API bindings of elementwise.h (see napi_util.h for the heap/offset convention).
#include "elementwise.h"

#include "napi_util.h"
#include "ops.h"

namespace altclip_napi {
namespace {

int dtypeOf(Args& a, size_t i, const char* fn) {
  size_t t = a.size(i);
  if (t > 2) throw ArgError{std::string(fn) + ": unknown dtype code " + std::to_string(t)};
  return (int)t;
}

size_t bytesOf(int dtype) { return altclip::dtypeBytes(dtype); }

// unaryEx(heap, op, dtype, xOff, outOff, n, p0, p1)
napi_value UnaryEx(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8, "unaryEx");
    a.heap(0);
    size_t op = a.size(1), n = a.size(5);
    int dt = dtypeOf(a, 2, "unaryEx");
    bool intOk = op == altclip::kAbs || op == altclip::kReluEx || op == altclip::kSign || op == altclip::kClip;
    if (op > altclip::kLog1p || dt == altclip::kBool || (dt == altclip::kI32 && !intOk))
      throw ArgError{"unaryEx: op " + std::to_string(op) + " is not defined for dtype code " + std::to_string(dt)};
    altclip::unaryEx((int)op, dt, a.bytes(3, n, 4), a.bytes(4, n, 4), n, a.num(6), a.num(7));
    return undefinedValue(env);
  });
}

// binaryEx(heap, op, dtype, aOff, bOff, outOff, dims Int32Array, aStrides Int32Array, bStrides Int32Array)
napi_value BinaryEx(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 9, "binaryEx");
    a.heap(0);
    size_t op = a.size(1);
    int dt = dtypeOf(a, 2, "binaryEx");
    if (!altclip::binaryExValid((int)op, dt)) throw ArgError{"binaryEx: op " + std::to_string(op) + " is not defined for dtype code " + std::to_string(dt)};
    std::vector<int32_t> dims = a.int32s(6), as = a.int32s(7), bs = a.int32s(8);
    int rank = (int)dims.size();
    if (rank < 1 || rank > 16 || (int)as.size() != rank || (int)bs.size() != rank) throw ArgError{"binaryEx: dims/strides must be Int32Arrays of equal length 1..16"};
    size_t n = 1, aSpan = 1, bSpan = 1;
    for (int d = 0; d < rank; d++) {
      if (dims[d] < 1 || as[d] < 0 || bs[d] < 0) throw ArgError{"binaryEx: dims must be positive and strides non-negative"};
      n *= (size_t)dims[d];
      aSpan += (size_t)(dims[d] - 1) * (size_t)as[d];
      bSpan += (size_t)(dims[d] - 1) * (size_t)bs[d];
    }
    if (as[rank - 1] > 1 || bs[rank - 1] > 1) throw ArgError{"binaryEx: innermost strides must be 0 or 1"};
    bool boolOut = op >= altclip::kEqual;
    altclip::binaryEx((int)op, dt, a.bytes(3, aSpan, bytesOf(dt)), a.bytes(4, bSpan, bytesOf(dt)), a.bytes(5, n, boolOut ? 1 : bytesOf(dt)), dims.data(), as.data(),
                      bs.data(), rank);
    return undefinedValue(env);
  });
}

// cumsum(heap, dtype, xOff, outOff, outer, n, inner, exclusive, reverse)
napi_value Cumsum(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 9, "cumsum");
    a.heap(0);
    int dt = dtypeOf(a, 1, "cumsum");
    if (dt == altclip::kBool) throw ArgError{"cumsum: float32 or int32 only"};
    size_t outer = a.size(4), n = a.size(5), inner = a.size(6), total = outer * n * inner;
    altclip::cumsum(dt, a.bytes(2, total, 4), a.bytes(3, total, 4), outer, n, inner, a.flag(7), a.flag(8));
    return undefinedValue(env);
  });
}

// argReduce(heap, isMin, dtype, xOff, outOff, outer, n, inner)
napi_value ArgReduce(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8, "argReduce");
    a.heap(0);
    int dt = dtypeOf(a, 2, "argReduce");
    if (dt == altclip::kBool) throw ArgError{"argReduce: float32 or int32 only"};
    size_t outer = a.size(5), n = a.size(6), inner = a.size(7);
    if (n == 0) throw ArgError{"argReduce: empty reduction"};
    altclip::argReduce(a.flag(1), dt, a.bytes(3, outer * n * inner, 4), a.ptr<int32_t>(4, outer * inner), outer, n, inner);
    return undefinedValue(env);
  });
}

// oneHot(heap, idxOff, outOff, dtype, n, depth, on, off)
napi_value OneHot(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8, "oneHot");
    a.heap(0);
    int dt = dtypeOf(a, 3, "oneHot");
    if (dt == altclip::kBool) throw ArgError{"oneHot: float32 or int32 output only"};
    size_t n = a.size(4), depth = a.size(5);
    altclip::oneHot(a.ptr<int32_t>(1, n), a.bytes(2, n * depth, 4), dt, n, depth, a.num(6), a.num(7));
    return undefinedValue(env);
  });
}

// segmentSum(heap, dtype, xOff, idsOff, outOff, n, d, numSegments)
napi_value SegmentSum(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8, "segmentSum");
    a.heap(0);
    int dt = dtypeOf(a, 1, "segmentSum");
    if (dt == altclip::kBool) throw ArgError{"segmentSum: float32 or int32 only"};
    size_t n = a.size(5), d = a.size(6), segs = a.size(7);
    altclip::segmentSum(dt, a.bytes(2, n * d, 4), a.ptr<int32_t>(3, n), a.bytes(4, segs * d, 4), n, d, segs);
    return undefinedValue(env);
  });
}

// addN(heap, dtype, offsets Float64Array, outOff, n)
napi_value AddN(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5, "addN");
    a.heap(0);
    int dt = dtypeOf(a, 1, "addN");
    if (dt == altclip::kBool) throw ArgError{"addN: float32 or int32 only"};
    std::vector<int64_t> offs = a.int64s(2);
    size_t n = a.size(4);
    std::vector<const void*> xs;
    for (int64_t off : offs) xs.push_back(a.bytesAt((size_t)off, n, 4));
    altclip::addN(dt, xs.data(), xs.size(), a.bytes(3, n, 4), n);
    return undefinedValue(env);
  });
}

// select(heap, condOff, aOff, bOff, outOff, elemBytes, n)
napi_value Select(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7, "select");
    a.heap(0);
    size_t elem = a.size(5), n = a.size(6);
    if (elem != 1 && elem != 4) throw ArgError{"select: element size must be 1 or 4 bytes"};
    altclip::selectEx(a.ptr<uint8_t>(1, n), a.bytes(2, n, elem), a.bytes(3, n, elem), a.bytes(4, n, elem), elem, n);
    return undefinedValue(env);
  });
}

// range(heap, dtype, outOff, n, start, step)
napi_value Range(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6, "range");
    a.heap(0);
    int dt = dtypeOf(a, 1, "range");
    if (dt == altclip::kBool) throw ArgError{"range: float32 or int32 only"};
    size_t n = a.size(3);
    altclip::rangeFill(dt, a.bytes(2, n, 4), n, a.num(4), a.num(5));
    return undefinedValue(env);
  });
}

}  // namespace

void registerElementwise(napi_env env, napi_value exports) {
  defineFunctions(env, exports,
                  {{"unaryEx", UnaryEx}, {"binaryEx", BinaryEx}, {"cumsum", Cumsum}, {"argReduce", ArgReduce}, {"oneHot", OneHot},
                   {"segmentSum", SegmentSum}, {"addN", AddN}, {"select", Select}, {"range", Range}});
}

}  // namespace altclip_napi
