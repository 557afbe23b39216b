// Shared N-API argument handling for the binding files (addon.cc, ops_napi.cc, ...). Every kernel takes `heap`
// (a typed array, normally the wasm backend's HEAPU8, or null for the native backend's arena) and byte offsets
// into it, so tensors are read and written where they live, without copies. Offsets and sizes are checked
// against the heap's length before any pointer is formed.
#pragma once
#include <node_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arena.h"

namespace altclip_napi {

struct ArgError {
  std::string msg;
};

class Args {
 public:
  Args(napi_env env, napi_callback_info info, size_t expected, const char* fn) : env_(env), fn_(fn) {
    argv_.resize(expected);
    size_t argc = expected;
    napi_get_cb_info(env, info, &argc, argv_.data(), nullptr, nullptr);
    if (argc < expected) throw ArgError{std::string(fn) + ": expected " + std::to_string(expected) + " arguments, got " + std::to_string(argc)};
  }

  // The heap: base pointer and length in bytes. null means the native backend's arena (csrc/arena.h).
  void heap(size_t i) {
    napi_valuetype vt;
    napi_typeof(env_, argv_[i], &vt);
    if (vt == napi_null) {
      if (!altclip::arenaReady()) throw ArgError{std::string(fn_) + ": the native arena is not initialised"};
      base_ = altclip::arenaBase();
      bytes_ = altclip::arenaSize();
      return;
    }
    bool is = false;
    napi_is_typedarray(env_, argv_[i], &is);
    if (!is) throw ArgError{std::string(fn_) + ": argument " + std::to_string(i) + " must be a typed array (the wasm heap)"};
    napi_typedarray_type type;
    size_t length = 0, byteOffset = 0;
    void* data = nullptr;
    napi_value ab;
    if (napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, &ab, &byteOffset) != napi_ok || data == nullptr)
      throw ArgError{std::string(fn_) + ": cannot read the heap's buffer"};
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    base_ = static_cast<char*>(data);
    bytes_ = length * elem;
  }

  napi_value value(size_t i) { return argv_[i]; }

  double num(size_t i) {
    double v;
    if (napi_get_value_double(env_, argv_[i], &v) != napi_ok) throw ArgError{std::string(fn_) + ": argument " + std::to_string(i) + " must be a number"};
    return v;
  }

  size_t size(size_t i) {
    double v = num(i);
    if (!(v >= 0) || v != (double)(int64_t)v) throw ArgError{std::string(fn_) + ": argument " + std::to_string(i) + " must be a non-negative integer"};
    return (size_t)v;
  }

  bool flag(size_t i) {
    bool b = false;
    if (napi_get_value_bool(env_, argv_[i], &b) != napi_ok) throw ArgError{std::string(fn_) + ": argument " + std::to_string(i) + " must be a boolean"};
    return b;
  }

  // Pointer to `count` elements of `elem` bytes at byte offset argument i, bounds- and alignment-checked.
  char* bytes(size_t i, size_t count, size_t elem) { return bytesAt(size(i), count, elem); }

  // The same for a byte offset given directly (e.g. one of a list of offsets).
  char* bytesAt(size_t off, size_t count, size_t elem) {
    if (off % elem) throw ArgError{std::string(fn_) + ": byte offset " + std::to_string(off) + " is not " + std::to_string(elem) + "-byte aligned"};
    if (off > bytes_ || count > (bytes_ - off) / elem)
      throw ArgError{std::string(fn_) + ": " + std::to_string(count) + " elements at byte " + std::to_string(off) + " run past the heap (" + std::to_string(bytes_) + " bytes)"};
    return base_ + off;
  }
  template <typename T>
  T* ptr(size_t i, size_t count) {
    return reinterpret_cast<T*>(bytes(i, count, sizeof(T)));
  }

  // float32 pointer to `count` elements at byte offset argument i, bounds- and alignment-checked.
  float* f32(size_t i, size_t count) {
    size_t off = size(i);
    if (off % 4) throw ArgError{std::string(fn_) + ": byte offset " + std::to_string(off) + " is not 4-byte aligned"};
    if (off > bytes_ || count > (bytes_ - off) / 4)
      throw ArgError{std::string(fn_) + ": " + std::to_string(count) + " floats at byte " + std::to_string(off) + " run past the heap (" + std::to_string(bytes_) + " bytes)"};
    return reinterpret_cast<float*>(base_ + off);
  }

  // Float64Array of non-negative integers.
  std::vector<int64_t> int64s(size_t i) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float64_array)
      throw ArgError{std::string(fn_) + ": argument " + std::to_string(i) + " must be a Float64Array"};
    const double* p = static_cast<const double*>(data);
    std::vector<int64_t> out(length);
    for (size_t k = 0; k < length; k++) {
      if (!(p[k] >= 0) || p[k] != (double)(int64_t)p[k]) throw ArgError{std::string(fn_) + ": argument " + std::to_string(i) + " must hold non-negative integers"};
      out[k] = (int64_t)p[k];
    }
    return out;
  }

  // Optional Float64Array (null/undefined -> empty).
  std::vector<double> f64s(size_t i) { return optionalTyped<double>(i, napi_float64_array, "a Float64Array"); }

  // Optional Int32Array (null/undefined -> empty).
  std::vector<int32_t> int32s(size_t i) { return optionalTyped<int32_t>(i, napi_int32_array, "an Int32Array"); }

 private:
  // A copy of typed array argument i of type `want` (`what` names it in the error), or empty for null/undefined.
  template <typename T>
  std::vector<T> optionalTyped(size_t i, napi_typedarray_type want, const char* what) {
    napi_valuetype t;
    napi_typeof(env_, argv_[i], &t);
    if (t == napi_null || t == napi_undefined) return {};
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, nullptr, nullptr) != napi_ok || type != want)
      throw ArgError{std::string(fn_) + ": argument " + std::to_string(i) + " must be " + what + " or null"};
    const T* p = static_cast<const T*>(data);
    return std::vector<T>(p, p + length);
  }

  napi_env env_;
  const char* fn_;
  std::vector<napi_value> argv_;
  char* base_ = nullptr;
  size_t bytes_ = 0;
};

inline napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

template <typename F>
inline napi_value guarded(napi_env env, F&& f) {
  try {
    return f();
  } catch (const ArgError& e) {
    napi_throw_range_error(env, nullptr, e.msg.c_str());
    return nullptr;
  }
}


// Registers `fns` as properties of `exports`.
inline void defineFunctions(napi_env env, napi_value exports, const std::vector<std::pair<const char*, napi_callback>>& fns) {
  std::vector<napi_property_descriptor> props;
  for (const auto& f : fns) props.push_back({f.first, nullptr, f.second, nullptr, nullptr, nullptr, napi_default, nullptr});
  napi_define_properties(env, exports, props.size(), props.data());
}

// Binding groups defined in their own files, registered by addon.cc's Init.
void registerOps(napi_env env, napi_value exports);
void registerElementwise(napi_env env, napi_value exports);
void registerFused(napi_env env, napi_value exports);  // fused_napi.cc
void registerBf16(napi_env env, napi_value exports);   // bf16_napi.cc

}  // namespace altclip_napi
