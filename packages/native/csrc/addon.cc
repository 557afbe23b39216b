// N-API bindings. Every kernel takes `heap` (a typed array, normally the wasm backend's HEAPU8, possibly over a
// SharedArrayBuffer) and byte offsets into it, so tensors are read and written where they live, without copies.
// Offsets and sizes are checked against the heap's length before any pointer is formed.
#include <node_api.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "arena.h"
#include "kernels.h"
#include "napi_util.h"
#include "pool.h"
#include "sgemm.h"

#ifdef ALTCLIP_OPENBLAS
extern "C" {
// OpenBLAS extensions (declared here so a cblas.h without them still compiles).
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}
#endif

namespace {

using namespace altclip_napi;

// gemm(heap, aOff, bOff, cOff, M, N, K, transA, transB, count, aStride, bStride, aIdx|null, bIdx|null,
//      biasOff (-1: none), biasSize, activation, leakyAlpha, types)
// types: bit 0 A is bf16, bit 1 B is bf16, bit 2 bf16 products (csrc/kernels.h GemmTypes).
napi_value Gemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 19, "gemm");
    a.heap(0);
    size_t M = a.size(4), N = a.size(5), K = a.size(6);
    bool ta = a.flag(7), tb = a.flag(8);
    size_t count = a.size(9), aStride = a.size(10), bStride = a.size(11);
    std::vector<int32_t> ai = a.int32s(12), bi = a.int32s(13);
    if ((!ai.empty() && ai.size() < count) || (!bi.empty() && bi.size() < count)) throw ArgError{"gemm: batch index arrays shorter than the batch"};
    auto maxIdx = [&](const std::vector<int32_t>& v) -> size_t {
      if (v.empty()) return count ? count - 1 : 0;
      int32_t m = 0;
      for (size_t o = 0; o < count; o++) {
        if (v[o] < 0) throw ArgError{"gemm: negative batch index"};
        m = v[o] > m ? v[o] : m;
      }
      return (size_t)m;
    };
    if (M > 0x7fffffff || N > 0x7fffffff || K > 0x7fffffff) throw ArgError{"gemm: dimension too large for BLAS int"};
    const size_t typeBits = a.size(18);
    const altclip::GemmTypes types{(typeBits & 1) != 0, (typeBits & 2) != 0, (typeBits & 4) != 0};
    const void* A = a.bytes(1, maxIdx(ai) * aStride + M * K, types.aBf16 ? 2 : 4);
    const void* B = a.bytes(2, maxIdx(bi) * bStride + K * N, types.bBf16 ? 2 : 4);
    float* C = a.f32(3, count * M * N);
    double biasOff = a.num(14);
    size_t biasSize = a.size(15);
    const float* bias = biasOff < 0 ? nullptr : a.f32(14, biasSize);
    if (bias && biasSize != 1 && biasSize != N) throw ArgError{"gemm: bias must have 1 or N values"};
    altclip::GemmBatch batch{ai.empty() ? nullptr : ai.data(), bi.empty() ? nullptr : bi.data(), aStride, bStride, count};
    altclip::gemm(A, B, C, (int)M, (int)N, (int)K, ta, tb, batch, bias, biasSize, (int)a.num(16), (float)a.num(17), types);
    return undefinedValue(env);
  });
}

// reduceSum(heap, xOff, outOff, outer, mid, inner, scale) / reduceMax(heap, xOff, outOff, outer, mid, inner)
napi_value ReduceSum(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7, "reduceSum");
    a.heap(0);
    size_t outer = a.size(3), mid = a.size(4), inner = a.size(5);
    const float* x = a.f32(1, outer * mid * inner);
    float* out = a.f32(2, outer * inner);
    if (mid == 0) throw ArgError{"reduceSum: empty reduction"};
    altclip::reduceSum(x, out, outer, mid, inner, (float)a.num(6));
    return undefinedValue(env);
  });
}

napi_value ReduceMax(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6, "reduceMax");
    a.heap(0);
    size_t outer = a.size(3), mid = a.size(4), inner = a.size(5);
    const float* x = a.f32(1, outer * mid * inner);
    float* out = a.f32(2, outer * inner);
    if (mid == 0) throw ArgError{"reduceMax: empty reduction"};
    altclip::reduceMax(x, out, outer, mid, inner);
    return undefinedValue(env);
  });
}

// unary(heap, op, xOff, outOff, n)
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5, "unary");
    a.heap(0);
    size_t op = a.size(1), n = a.size(4);
    if (op > altclip::kNeg) throw ArgError{"unary: unknown op " + std::to_string(op)};
    altclip::unary((int)op, a.f32(2, n), a.f32(3, n), n);
    return undefinedValue(env);
  });
}

// softmax(heap, xOff, outOff, rows, cols)
napi_value Softmax(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5, "softmax");
    a.heap(0);
    size_t rows = a.size(3), cols = a.size(4);
    altclip::softmax(a.f32(1, rows * cols), a.f32(2, rows * cols), rows, cols);
    return undefinedValue(env);
  });
}

// adamw(heap, pOff, mOff, vOff, gOff, n, lr, b1, b2, eps, bc1, bc2, wd)
napi_value AdamW(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 14, "adamw");
    a.heap(0);
    size_t n = a.size(5);
    altclip::adamw(a.f32(1, n), a.f32(2, n), a.f32(3, n), a.f32(4, n), n, (float)a.num(6), (float)a.num(7), (float)a.num(8), (float)a.num(9),
                   (float)a.num(10), (float)a.num(11), (float)a.num(12), (float)a.num(13));
    return undefinedValue(env);
  });
}

// sumSquares(heap, xOff, n) -> sum of x^2 in double (a gradient's squared norm, no temporary).
napi_value SumSquares(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 3, "sumSquares");
    a.heap(0);
    size_t n = a.size(2);
    napi_value v;
    napi_create_double(env, altclip::sumSquares(a.f32(1, n), n), &v);
    return v;
  });
}

// scaleInPlace(heap, xOff, n, s): x *= s.
napi_value ScaleInPlace(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 4, "scaleInPlace");
    a.heap(0);
    size_t n = a.size(2);
    altclip::scaleInPlace(a.f32(1, n), n, (float)a.num(3));
    return undefinedValue(env);
  });
}

// binary(heap, op, aOff, bOff, outOff, dims Int32Array, aStrides Int32Array, bStrides Int32Array)
napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8, "binary");
    a.heap(0);
    size_t op = a.size(1);
    if (op > altclip::kMinimum) throw ArgError{"binary: unknown op " + std::to_string(op)};
    std::vector<int32_t> dims = a.int32s(5), as = a.int32s(6), bs = a.int32s(7);
    int rank = (int)dims.size();
    if (rank < 1 || rank > 16 || (int)as.size() != rank || (int)bs.size() != rank) throw ArgError{"binary: dims/strides must be Int32Arrays of equal length 1..16"};
    size_t n = 1, aSpan = 1, bSpan = 1;
    for (int d = 0; d < rank; d++) {
      if (dims[d] < 1 || as[d] < 0 || bs[d] < 0) throw ArgError{"binary: dims must be positive and strides non-negative"};
      n *= (size_t)dims[d];
      aSpan += (size_t)(dims[d] - 1) * (size_t)as[d];
      bSpan += (size_t)(dims[d] - 1) * (size_t)bs[d];
    }
    if (as[rank - 1] > 1 || bs[rank - 1] > 1) throw ArgError{"binary: innermost strides must be 0 or 1"};
    altclip::binary((int)op, a.f32(2, aSpan), a.f32(3, bSpan), a.f32(4, n), dims.data(), as.data(), bs.data(), rank);
    return undefinedValue(env);
  });
}

// gather(heap, xOff, idxOff, outOff, outer, axisDim, inner, nIdx) -> false if an index is out of range
napi_value Gather(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8, "gather");
    a.heap(0);
    size_t outer = a.size(4), axisDim = a.size(5), inner = a.size(6), nIdx = a.size(7);
    const float* x = a.f32(1, outer * axisDim * inner);
    const int32_t* idx = reinterpret_cast<const int32_t*>(a.f32(2, nIdx));
    float* out = a.f32(3, outer * nIdx * inner);
    napi_value r;
    napi_get_boolean(env, altclip::gather(x, idx, out, outer, axisDim, inner, nIdx), &r);
    return r;
  });
}

// permuteRows(heap, xOff, outOff, dims Int32Array, strides Float64Array (elements), inner)
napi_value PermuteRows(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6, "permuteRows");
    a.heap(0);
    std::vector<int32_t> dims = a.int32s(3);
    std::vector<int64_t> strides = a.int64s(4);
    size_t inner = a.size(5);
    int rank = (int)dims.size();
    if (rank < 1 || rank > 16 || (int)strides.size() != rank) throw ArgError{"permuteRows: dims and strides must have equal length 1..16"};
    size_t rows = 1, span = inner;
    for (int d = 0; d < rank; d++) {
      if (dims[d] < 1 || strides[d] < 0) throw ArgError{"permuteRows: dims must be positive and strides non-negative"};
      rows *= (size_t)dims[d];
      span += (size_t)(dims[d] - 1) * (size_t)strides[d];
    }
    altclip::permuteRows(a.f32(1, span), a.f32(2, rows * inner), dims.data(), strides.data(), rank, inner);
    return undefinedValue(env);
  });
}

// setThreads(n): the elementwise pool and OpenBLAS.
napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, "setThreads");
    size_t n = a.size(0);
    if (n < 1 || n > 256) throw ArgError{"setThreads: thread count must be 1..256"};
    altclip::setPoolThreads((int)n);
#ifdef ALTCLIP_OPENBLAS
    openblas_set_num_threads((int)n);
#endif
    return undefinedValue(env);
  });
}

// tuneMalloc(): fixes glibc's mmap threshold at its default (128 KiB) for the whole process. glibc otherwise raises
// the threshold to the size of each large buffer freed (up to 32 MiB), after which such buffers come from malloc's
// per-thread arenas, which keep their freed pages: decoding images of varying sizes on the worker pool made resident
// memory creep over a long embed (issue 24, item 15). Setting it once turns the dynamic threshold off. No-op without
// glibc.
void tuneMalloc() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

// mallocTrim(): returns the free pages inside glibc's arenas to the system (malloc_trim(0)); false without glibc.
napi_value MallocTrim(napi_env env, napi_callback_info) {
  bool done = false;
#if defined(__GLIBC__)
  malloc_trim(0);
  done = true;
#endif
  napi_value v;
  napi_get_boolean(env, done, &v);
  return v;
}

// setGemm(mode: 'auto' | 'builtin' | 'openblas' | boolean): the SGEMM gemm() uses (true: builtin, false: openblas).
// Without OpenBLAS it stays built-in.
napi_value SetGemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    size_t argc = 1;
    napi_value argv[1];
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    bool builtin = false;
    char name[16] = {0};
    size_t len = 0;
    if (argc >= 1 && napi_get_value_bool(env, argv[0], &builtin) == napi_ok) {
      altclip::setGemmMode(builtin ? altclip::GemmMode::Builtin : altclip::GemmMode::OpenBlas);
    } else if (argc >= 1 && napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) == napi_ok) {
      altclip::GemmMode mode;
      if (!altclip::parseGemmMode(name, &mode)) throw ArgError{"setGemm: expected 'auto', 'builtin' or 'openblas', got '" + std::string(name, len) + "'"};
      altclip::setGemmMode(mode);
    } else {
      throw ArgError{"setGemm: expected 'auto', 'builtin', 'openblas' or a boolean"};
    }
    return undefinedValue(env);
  });
}

// setGemmIsa(name) -> false when the built-in SGEMM has no such code path or this CPU cannot run it (csrc/sgemm.h).
napi_value SetGemmIsa(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, "setGemmIsa");
    char name[32] = {0};
    size_t len = 0;
    if (napi_get_value_string_utf8(env, a.value(0), name, sizeof name, &len) != napi_ok) throw ArgError{"setGemmIsa: expected a string"};
    napi_value r;
    napi_get_boolean(env, altclip::setSgemmIsa(name), &r);
    return r;
  });
}

// arenaInit(bytes): reserves the arena's address space once (later calls do nothing) and returns its size.
napi_value ArenaInit(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, "arenaInit");
    std::string err;
    if (!altclip::arenaInit(a.size(0), &err)) throw ArgError{"arenaInit: " + err};
    napi_value r;
    napi_create_double(env, (double)altclip::arenaSize(), &r);
    return r;
  });
}

// arenaSegment(i) -> external ArrayBuffer over bytes [i * 4 GiB, (i + 1) * 4 GiB) of the arena (JS views of tensors).
napi_value ArenaSegment(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, "arenaSegment");
    if (!altclip::arenaReady()) throw ArgError{"arenaSegment: the native arena is not initialised"};
    size_t i = a.size(0), start = i * altclip::kArenaSegment;
    if (start >= altclip::arenaSize()) throw ArgError{"arenaSegment: segment " + std::to_string(i) + " is outside the arena"};
    size_t len = std::min(altclip::kArenaSegment, altclip::arenaSize() - start);
    napi_value ab;
    if (napi_create_external_arraybuffer(env, altclip::arenaBase() + start, len, nullptr, nullptr, &ab) != napi_ok)
      throw ArgError{"arenaSegment: cannot wrap arena memory in an ArrayBuffer"};
    return ab;
  });
}

// arenaAlloc(bytes) -> byte offset, or -1 when the reservation is exhausted.
napi_value ArenaAlloc(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, "arenaAlloc");
    size_t off = altclip::arenaAlloc(a.size(0));
    napi_value r;
    napi_create_double(env, off == (size_t)-1 ? -1.0 : (double)off, &r);
    return r;
  });
}

// arenaFree(offset) -> false when offset is not a live block.
napi_value ArenaFree(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, "arenaFree");
    napi_value r;
    napi_get_boolean(env, altclip::arenaFree(a.size(0)), &r);
    return r;
  });
}

napi_value ArenaStats(napi_env env, napi_callback_info info) {
  altclip::ArenaStats s = altclip::arenaStats();
  napi_value obj, v;
  napi_create_object(env, &obj);
  const std::pair<const char*, size_t> fields[] = {{"reserved", s.reserved}, {"live", s.live}, {"peakLive", s.peakLive}, {"cached", s.cached},
                                                    {"cacheCap", s.cacheCap}, {"top", s.top}, {"allocs", s.allocs}, {"frees", s.frees},
                                                    {"releases", s.releases}};
  for (const auto& f : fields) {
    napi_create_double(env, (double)f.second, &v);
    napi_set_named_property(env, obj, f.first, v);
  }
  return obj;
}

// arenaControl(op, value): 0 resetPeak, 1 setCacheCap(value), 2 trim.
napi_value ArenaControl(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 2, "arenaControl");
    size_t op = a.size(0);
    if (op == 0) altclip::arenaResetPeak();
    else if (op == 1) altclip::arenaSetCacheCap(a.size(1));
    else if (op == 2) altclip::arenaTrim();
    else throw ArgError{"arenaControl: unknown op"};
    return undefinedValue(env);
  });
}

napi_value setProp(napi_env env, napi_value obj, const char* key, napi_value v) {
  napi_set_named_property(env, obj, key, v);
  return obj;
}

napi_value Info(napi_env env, napi_callback_info info) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_int32(env, altclip::poolThreads(), &v);
  setProp(env, obj, "threads", v);
#ifdef ALTCLIP_OPENBLAS
  napi_create_int32(env, openblas_get_num_threads(), &v);
  setProp(env, obj, "blasThreads", v);
  const char* cfg = openblas_get_config();
  const char* core = openblas_get_corename();
#else
  napi_create_int32(env, altclip::poolThreads(), &v);
  setProp(env, obj, "blasThreads", v);
  const char* cfg = "";
  const char* core = "";
#endif
  napi_get_boolean(env, altclip::haveOpenBlas(), &v);
  setProp(env, obj, "openblas", v);
  napi_create_string_utf8(env, altclip::gemmModeName(altclip::gemmMode()), NAPI_AUTO_LENGTH, &v);
  setProp(env, obj, "gemm", v);
  napi_create_string_utf8(env, cfg ? cfg : "", NAPI_AUTO_LENGTH, &v);
  setProp(env, obj, "blasConfig", v);
  // The built-in SGEMM's code path (csrc/sgemm.cc): picked at load time, ALTCLIP_NATIVE_ISA or setGemmIsa.
  napi_create_string_utf8(env, altclip::sgemmIsa(), NAPI_AUTO_LENGTH, &v);
  setProp(env, obj, "builtinIsa", v);
  napi_create_string_utf8(env, altclip::sgemmIsaDescription(), NAPI_AUTO_LENGTH, &v);
  setProp(env, obj, "builtinCore", v);
  napi_create_string_utf8(env, altclip::autoBuiltinShapes(), NAPI_AUTO_LENGTH, &v);
  setProp(env, obj, "autoBuiltin", v);
  napi_create_string_utf8(env, core ? core : "", NAPI_AUTO_LENGTH, &v);
  setProp(env, obj, "blasCore", v);
  return obj;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"gemm", nullptr, Gemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"mallocTrim", nullptr, MallocTrim, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setGemm", nullptr, SetGemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setGemmIsa", nullptr, SetGemmIsa, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduceSum", nullptr, ReduceSum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduceMax", nullptr, ReduceMax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumSquares", nullptr, SumSquares, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"scaleInPlace", nullptr, ScaleInPlace, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gather", nullptr, Gather, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"permuteRows", nullptr, PermuteRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"arenaInit", nullptr, ArenaInit, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"arenaSegment", nullptr, ArenaSegment, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"arenaAlloc", nullptr, ArenaAlloc, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"arenaFree", nullptr, ArenaFree, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"arenaStats", nullptr, ArenaStats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"arenaControl", nullptr, ArenaControl, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  registerOps(env, exports);
  registerElementwise(env, exports);
  registerFused(env, exports);
  registerBf16(env, exports);
  altclip::setGemmMode(altclip::gemmModeByDefault());
  tuneMalloc();
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
