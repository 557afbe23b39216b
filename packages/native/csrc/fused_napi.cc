// N-API bindings of fused.h (see napi_util.h for the heap/offset convention).
#include "fused.h"

#include <cmath>

#include "napi_util.h"

namespace altclip_napi {
namespace {

std::vector<size_t> dimsArg(Args& a, size_t i, size_t n, const char* fn, const char* what) {
  std::vector<int32_t> v = a.int32s(i);
  if (v.size() != n) throw ArgError{std::string(fn) + ": " + what + " must be an Int32Array of " + std::to_string(n) + " values"};
  std::vector<size_t> out;
  for (int32_t x : v) {
    if (x < 0) throw ArgError{std::string(fn) + ": " + what + " must be non-negative"};
    out.push_back((size_t)x);
  }
  return out;
}

// The mask (byte offset argument `off`, -1 for none) with strides over [B, H, Lq, Lk] (Int32Array [sb, sh, sq]).
altclip::MaskView maskArg(Args& a, size_t off, size_t stridesArg, size_t B, size_t H, size_t Lq, size_t Lk, const char* fn) {
  std::vector<size_t> st = dimsArg(a, stridesArg, 3, fn, "mask strides");
  if (a.num(off) < 0) return {nullptr, 0, 0, 0};
  if (!B || !H || !Lq || !Lk) throw ArgError{std::string(fn) + ": empty attention shape"};
  size_t span = (B - 1) * st[0] + (H - 1) * st[1] + (Lq - 1) * st[2] + Lk;
  return {a.f32(off, span), st[0], st[1], st[2]};
}

int actArg(Args& a, size_t i, const char* fn) {
  size_t act = a.size(i);
  if (act > altclip::kQuickGelu) throw ArgError{std::string(fn) + ": unknown activation code " + std::to_string(act)};
  return (int)act;
}

// layerNorm(heap, x, gamma, beta, y, mean, rstd, rows, D, eps)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 10, "layerNorm");
    a.heap(0);
    size_t rows = a.size(7), D = a.size(8);
    if (!D) throw ArgError{"layerNorm: empty rows"};
    altclip::layerNorm(a.f32(1, rows * D), a.f32(2, D), a.f32(3, D), a.f32(4, rows * D), a.f32(5, rows), a.f32(6, rows), rows, D,
                       (float)a.num(9));
    return undefinedValue(env);
  });
}

// layerNormGrad(heap, dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, D)
napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 11, "layerNormGrad");
    a.heap(0);
    size_t rows = a.size(9), D = a.size(10);
    if (!D || !rows) throw ArgError{"layerNormGrad: empty input"};
    altclip::layerNormGrad(a.f32(1, rows * D), a.f32(2, rows * D), a.f32(3, D), a.f32(4, rows), a.f32(5, rows), a.f32(6, rows * D),
                           a.f32(7, D), a.f32(8, D), rows, D);
    return undefinedValue(env);
  });
}

// biasAct(heap, act, x, bias, y, rows, N)
napi_value BiasAct(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7, "biasAct");
    a.heap(0);
    int act = actArg(a, 1, "biasAct");
    size_t rows = a.size(5), N = a.size(6);
    altclip::biasAct(act, a.f32(2, rows * N), a.f32(3, N), a.f32(4, rows * N), rows, N);
    return undefinedValue(env);
  });
}

// biasActGrad(heap, act, dy, x, bias, dx, dbias, rows, N)
napi_value BiasActGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 9, "biasActGrad");
    a.heap(0);
    int act = actArg(a, 1, "biasActGrad");
    size_t rows = a.size(7), N = a.size(8);
    if (!rows || !N) throw ArgError{"biasActGrad: empty input"};
    altclip::biasActGrad(act, a.f32(2, rows * N), a.f32(3, rows * N), a.f32(4, N), a.f32(5, rows * N), a.f32(6, N), rows, N);
    return undefinedValue(env);
  });
}

// softmaxMask(heap, x, mask (-1: none), y, dims Int32Array [B, H, Lq, Lk], maskStrides Int32Array [sb, sh, sq], scale)
napi_value SoftmaxMask(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7, "softmaxMask");
    a.heap(0);
    std::vector<size_t> d = dimsArg(a, 4, 4, "softmaxMask", "dims");
    size_t n = d[0] * d[1] * d[2] * d[3];
    altclip::MaskView m = maskArg(a, 2, 5, d[0], d[1], d[2], d[3], "softmaxMask");
    altclip::softmaxMask(a.f32(1, n), m, a.f32(3, n), d[0], d[1], d[2], d[3], (float)a.num(6));
    return undefinedValue(env);
  });
}

// softmaxMaskGrad(heap, dy, y, dx, rows, cols, scale)
napi_value SoftmaxMaskGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7, "softmaxMaskGrad");
    a.heap(0);
    size_t rows = a.size(4), cols = a.size(5);
    altclip::softmaxMaskGrad(a.f32(1, rows * cols), a.f32(2, rows * cols), a.f32(3, rows * cols), rows, cols, (float)a.num(6));
    return undefinedValue(env);
  });
}

// Keyed dropout (keyed.h) from argument i: null (none) or a Float64Array [call draw, keepBelow, scale, key_0 ..
// key_{n-1}]. `keys` holds the keys the returned KeyedDropout points to.
bool keyedArg(Args& a, size_t i, const char* fn, std::vector<uint32_t>& keys, altclip::KeyedDropout& k) {
  std::vector<double> v = a.f64s(i);
  if (v.empty()) return false;
  const auto u32 = [](double x, double top) { return x >= 0 && x <= top && x == (double)(uint64_t)x; };
  if (v.size() < 4) throw ArgError{std::string(fn) + ": keyed dropout needs [call, keepBelow, scale, ...keys] with at least one key"};
  if (!u32(v[0], 4294967295.0) || !u32(v[1], 4294967296.0) || !(v[2] > 0 && std::isfinite(v[2])))
    throw ArgError{std::string(fn) + ": keyed dropout's call draw must be a 32-bit integer, keepBelow an integer in [0, 2^32] and scale positive"};
  for (size_t j = 3; j < v.size(); j++) {
    if (!u32(v[j], 4294967295.0)) throw ArgError{std::string(fn) + ": dropout key " + std::to_string(j - 3) + " is not a 32-bit unsigned integer"};
    keys.push_back((uint32_t)v[j]);
  }
  k = {keys.data(), keys.size(), (uint32_t)v[0], (uint64_t)v[1], (float)v[2]};
  return true;
}

// dims [B, H, Lq, Lk, d, bf16 (0 or 1: bf16 products), dropout rate * 2^24 (0: none), dropout seed].
altclip::AttentionShape shapeArg(Args& a, size_t i, const char* fn) {
  std::vector<size_t> d = dimsArg(a, i, 8, fn, "dims [B, H, Lq, Lk, d, bf16, dropRate24, dropSeed]");
  for (int k = 0; k < 5; k++)
    if (!d[k]) throw ArgError{std::string(fn) + ": empty attention shape"};
  if (d[5] > 1) throw ArgError{std::string(fn) + ": the bf16 flag (dims[5]) must be 0 or 1"};
  if (d[6] >= (1u << 24)) throw ArgError{std::string(fn) + ": the dropout rate (dims[6] / 2^24) must be below 1"};
  altclip::AttentionShape s{d[0], d[1], d[2], d[3], d[4], d[5] == 1, (uint32_t)d[6], (uint32_t)d[7]};
  if (!altclip::attentionDropoutFits(s))
    throw ArgError{std::string(fn) + ": attention dropout runs on whole score rows only; this head has more than the whole-row limit of scores"};
  return s;
}

// Sets keyed dropout `k` on attention shape `s`, checked (B a multiple of the keys, whole score rows).
void attachKeyed(altclip::AttentionShape& s, const altclip::KeyedDropout& k, const char* fn) {
  if (s.B % k.n) throw ArgError{std::string(fn) + ": " + std::to_string(k.n) + " dropout keys for a batch of " + std::to_string(s.B) + " (B must be a multiple)"};
  s.keyed = &k;
  if (!altclip::attentionDropoutFits(s))
    throw ArgError{std::string(fn) + ": attention dropout runs on whole score rows only; this head has more than the whole-row limit of scores"};
}

// attention(heap, q, k, v, mask (-1: none), out, stats, dims Int32Array [B, H, Lq, Lk, d, bf16, dropRate24, dropSeed], maskStrides, scale,
//           keyed (null or Float64Array [call, keepBelow, scale, ...keys]: masks keyed per sample instead of by dropRate24/dropSeed))
napi_value Attention(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 11, "attention");
    a.heap(0);
    altclip::AttentionShape s = shapeArg(a, 7, "attention");
    std::vector<uint32_t> keys;
    altclip::KeyedDropout k;
    if (keyedArg(a, 10, "attention", keys, k)) attachKeyed(s, k, "attention");
    const size_t D = s.H * s.d;
    altclip::MaskView m = maskArg(a, 4, 8, s.B, s.H, s.Lq, s.Lk, "attention");
    altclip::attention(a.f32(1, s.B * s.Lq * D), a.f32(2, s.B * s.Lk * D), a.f32(3, s.B * s.Lk * D), m, a.f32(5, s.B * s.Lq * D),
                       a.f32(6, s.B * s.H * s.Lq * 2), s, (float)a.num(9));
    return undefinedValue(env);
  });
}

// attentionGrad(heap, dout, q, k, v, mask, out, stats, dq, dk, dv, dims, maskStrides, scale, keyed)
napi_value AttentionGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 15, "attentionGrad");
    a.heap(0);
    altclip::AttentionShape s = shapeArg(a, 11, "attentionGrad");
    std::vector<uint32_t> keys;
    altclip::KeyedDropout k;
    if (keyedArg(a, 14, "attentionGrad", keys, k)) attachKeyed(s, k, "attentionGrad");
    const size_t D = s.H * s.d, nq = s.B * s.Lq * D, nk = s.B * s.Lk * D;
    altclip::MaskView m = maskArg(a, 5, 12, s.B, s.H, s.Lq, s.Lk, "attentionGrad");
    altclip::attentionGrad(a.f32(1, nq), a.f32(2, nq), a.f32(3, nk), a.f32(4, nk), m, a.f32(6, nq), a.f32(7, s.B * s.H * s.Lq * 2),
                           a.f32(8, nq), a.f32(9, nk), a.f32(10, nk), s, (float)a.num(13));
    return undefinedValue(env);
  });
}

// setAttentionFullRowLimit(scores) -> the previous limit (fused.h).
napi_value SetAttentionFullRowLimit(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, "setAttentionFullRowLimit");
    const double n = a.num(0);
    if (!(n >= 0)) throw ArgError{"setAttentionFullRowLimit: expected a non-negative number"};
    napi_value r;
    napi_create_double(env, (double)altclip::setAttentionFullRowLimit((size_t)n), &r);
    return r;
  });
}

// dropout(heap, x, y, mask (bytes), n, rate, seed)
napi_value Dropout(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7, "dropout");
    a.heap(0);
    const size_t n = a.size(4);
    const double rate = a.num(5);
    if (!(rate >= 0 && rate < 1)) throw ArgError{"dropout: rate must be in [0, 1)"};
    altclip::dropout(a.f32(1, n), a.f32(2, n), a.ptr<uint8_t>(3, n), n, (float)rate, (uint32_t)a.size(6));
    return undefinedValue(env);
  });
}

// keyedDropout(heap, x, y, mask (bytes), dims Int32Array [mids..., last], keyed Float64Array [call, keepBelow, scale, ...keys]):
// x is [n keys, mids..., last].
napi_value KeyedDropoutFn(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6, "keyedDropout");
    a.heap(0);
    std::vector<int32_t> d = a.int32s(4);
    if (d.empty() || d.size() > altclip::kKeyedMaxMids + 1) throw ArgError{"keyedDropout: dims [mids..., last] must hold 1 to 9 values"};
    std::vector<uint32_t> keys;
    altclip::KeyedDropout k;
    if (!keyedArg(a, 5, "keyedDropout", keys, k)) throw ArgError{"keyedDropout: the keyed argument is required"};
    std::vector<size_t> mids;
    size_t n = k.n;
    for (int32_t x : d) {
      if (x <= 0) throw ArgError{"keyedDropout: dims must be positive"};
      n *= (size_t)x;
      mids.push_back((size_t)x);
    }
    const size_t last = mids.back();
    mids.pop_back();
    altclip::keyedDropout(a.f32(1, n), a.f32(2, n), a.ptr<uint8_t>(3, n), mids.data(), mids.size(), last, k);
    return undefinedValue(env);
  });
}

}  // namespace

void registerFused(napi_env env, napi_value exports) {
  defineFunctions(env, exports,
                  {{"layerNorm", LayerNorm},
                   {"dropout", Dropout},
                   {"keyedDropout", KeyedDropoutFn},
                   {"layerNormGrad", LayerNormGrad},
                   {"biasAct", BiasAct},
                   {"biasActGrad", BiasActGrad},
                   {"softmaxMask", SoftmaxMask},
                   {"softmaxMaskGrad", SoftmaxMaskGrad},
                   {"attention", Attention},
                   {"attentionGrad", AttentionGrad},
                   {"setAttentionFullRowLimit", SetAttentionFullRowLimit}});
}

}  // namespace altclip_napi
