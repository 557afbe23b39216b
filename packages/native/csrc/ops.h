// Kernels the native backend needs beyond the hot ones in kernels.h: dtype casts, fills and one strided-copy
// primitive that every data-movement kernel (transpose, slice, concat, tile, pad, broadcast, reverse) reduces to.
// Element dtypes: 0 float32, 1 int32, 2 bool (uint8).
#pragma once
#include <cstddef>
#include <cstdint>

namespace altclip {

enum DType { kF32 = 0, kI32 = 1, kBool = 2 };
inline size_t dtypeBytes(int dt) { return dt == kBool ? 1 : 4; }

// out = x converted like tfjs's Cast: to int32 truncates toward zero (JS ToInt32: NaN -> 0, wraps mod 2^32), to
// bool is x != 0 (NaN -> true), to float32 is exact for bool and rounds int32 to nearest.
void cast(const void* x, int inType, void* out, int outType, size_t n);

// out[i] = value for n elements of `dtype`.
void fill(void* out, int dtype, double value, size_t n);

// Strided copy of elements of `elem` bytes: for every index (i_0..i_{rank-1}) < dims,
// dst[sum i_d * dstStrides[d]] = src[sum i_d * srcStrides[d]] (strides in elements, may be 0 or negative).
void stridedCopy(const char* src, char* dst, size_t elem, const int64_t* dims, const int64_t* srcStrides, const int64_t* dstStrides,
                 int rank);

}  // namespace altclip
