// N-API bindings of the bf16 helpers (csrc/sgemm.h): conversions, the bf16 tile's status, the peak loops.
#include <node_api.h>

#include <string>

#include "napi_util.h"
#include "sgemm.h"

namespace altclip_napi {
namespace {

// toBf16(heap, x (float32), out (bf16), n): round to nearest even.
napi_value ToBf16(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 4, "toBf16");
    a.heap(0);
    const size_t n = a.size(3);
    altclip::toBf16(a.f32(1, n), a.ptr<uint16_t>(2, n), n);
    return undefinedValue(env);
  });
}

// fromBf16(heap, x (bf16), out (float32), n).
napi_value FromBf16(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 4, "fromBf16");
    a.heap(0);
    const size_t n = a.size(3);
    altclip::fromBf16(a.ptr<uint16_t>(1, n), a.f32(2, n), n);
    return undefinedValue(env);
  });
}

// bf16Info() -> { native: vdpbf16ps available, isa: the tile bf16 products run on, "avx512_bf16" | "emulated",
//                 forced: emulation asked for (ALTCLIP_NATIVE_BF16=emulate or setBf16Emulation(true)) }.
napi_value Bf16Info(napi_env env, napi_callback_info info) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_get_boolean(env, altclip::bf16Native(), &v);
  napi_set_named_property(env, obj, "native", v);
  napi_create_string_utf8(env, altclip::bf16GemmIsa(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "isa", v);
  napi_get_boolean(env, altclip::bf16EmulationForced(), &v);
  napi_set_named_property(env, obj, "forced", v);
  return obj;
}

// setBf16Emulation(on: boolean): the emulated bf16 tile even where vdpbf16ps exists (tests).
napi_value SetBf16Emulation(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, "setBf16Emulation");
    altclip::setBf16Emulation(a.flag(0));
    return undefinedValue(env);
  });
}

// peakLoop(kind 0 fp32 FMA | 1 bf16 dot, iters, threads) -> flops done (0: not on this CPU).
napi_value PeakLoop(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 3, "peakLoop");
    const size_t kind = a.size(0);
    if (kind > 1) throw ArgError{"peakLoop: kind must be 0 (fp32 FMA) or 1 (bf16 dot product)"};
    napi_value v;
    napi_create_double(env, altclip::peakLoop((int)kind, (long)a.size(1), (int)a.size(2)), &v);
    return v;
  });
}

}  // namespace

void registerBf16(napi_env env, napi_value exports) {
  defineFunctions(env, exports,
                  {{"toBf16", ToBf16}, {"fromBf16", FromBf16}, {"bf16Info", Bf16Info}, {"setBf16Emulation", SetBf16Emulation}, {"peakLoop", PeakLoop}});
}

}  // namespace altclip_napi
