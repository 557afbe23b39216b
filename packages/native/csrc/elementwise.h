// The rest of a training step's kernels (issue 11), beyond the hot float32 ones in kernels.h: more unary ops,
// int32 arithmetic and comparisons with broadcasting, scans, arg-reductions, one-hot, segment sums (the gather
// gradient), AddN, Select, Range. Each follows the stock tfjs cpu kernel's semantics (NaN handling, tie-breaking,
// int32 wrap-around) so the native backend computes the same values. Element dtypes as in ops.h.
#pragma once
#include <cstddef>
#include <cstdint>

namespace altclip {

// Unary ops on float32 (all) or int32 (Abs, Relu, Sign, ClipByValue); p0/p1: Step's alpha, ClipByValue's min/max.
enum UnaryEx { kAbs = 0, kFloor = 1, kCeil = 2, kRound = 3, kLog = 4, kStep = 5, kClip = 6, kReluEx = 7, kReciprocal = 8, kSign = 9, kLog1p = 10 };
void unaryEx(int op, int dtype, const void* x, void* out, size_t n, double p0, double p1);

// Binary ops with the broadcasting description of kernels.h's binary(): dims and per-input element strides.
//   arithmetic (dtype float32 or int32, out same dtype): kAddEx .. kMinEx; kPowEx float32 only; int32 wraps mod 2^32
//   comparisons (float32, int32 or bool in, bool out): kEqual .. kLessEqual
//   logical (bool in, bool out): kLogicalAnd, kLogicalOr
enum BinaryEx {
  kAddEx = 0, kSubEx = 1, kMulEx = 2, kMaxEx = 3, kMinEx = 4, kPowEx = 5,
  kEqual = 10, kNotEqual = 11, kGreater = 12, kGreaterEqual = 13, kLess = 14, kLessEqual = 15,
  kLogicalAnd = 20, kLogicalOr = 21,
};
bool binaryExValid(int op, int dtype);
void binaryEx(int op, int dtype, const void* a, const void* b, void* out, const int32_t* dims, const int32_t* as, const int32_t* bs, int rank);

// Running sum along the middle axis of [outer, n, inner] (float32 or int32), optionally exclusive and/or reversed.
void cumsum(int dtype, const void* x, void* out, size_t outer, size_t n, size_t inner, bool exclusive, bool reverse);

// Index (int32) of the first maximum (argMin: minimum) along the middle axis of float32/int32 [outer, n, inner]. Like
// tfjs, a NaN never wins unless it is the first element.
void argReduce(bool isMin, int dtype, const void* x, int32_t* out, size_t outer, size_t n, size_t inner);

// out[i, :] = off, with out[i, idx[i]] = on where 0 <= idx[i] < depth; out is float32 or int32.
void oneHot(const int32_t* idx, void* out, int dtype, size_t n, size_t depth, double on, double off);

// out[s, :] = sum of x[i, :] over i with ids[i] == s (ids outside [0, numSegments) are dropped); x is [n, d], out
// [numSegments, d], float32 or int32. Rows are summed in index order, as the sequential loop does.
void segmentSum(int dtype, const void* x, const int32_t* ids, void* out, size_t n, size_t d, size_t numSegments);

// out = sum of `count` same-sized tensors (float32 or int32), added in list order.
void addN(int dtype, const void* const* xs, size_t count, void* out, size_t n);

// out[i] = cond[i] ? a[i] : b[i] (elements of `elem` bytes: 1 or 4).
void selectEx(const uint8_t* cond, const void* a, const void* b, void* out, size_t elem, size_t n);

// tfjs's rangeImpl: out[0] = start, out[i] = out[i-1] + step, rounded to the dtype at every step.
void rangeFill(int dtype, void* out, size_t n, double start, double step);

}  // namespace altclip
