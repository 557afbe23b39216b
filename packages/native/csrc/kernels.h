// Kernels on raw float32 buffers (the caller resolves wasm-heap offsets to pointers). Row-major throughout.
#pragma once
#include <cstddef>
#include <cstdint>

namespace altclip {

enum Activation { kLinear = 0, kRelu = 1, kRelu6 = 2, kSigmoid = 3, kLeakyRelu = 4, kElu = 5 };

struct GemmBatch {
  // Per output batch o: A at a + aIdx[o] * aStride (aIdx null: o), same for B; C at c + o * M * N.
  const int32_t* aIdx;
  const int32_t* bIdx;
  size_t aStride, bStride;
  size_t count;
};

// Element types of a gemm's operands and of its products (csrc/sgemm.h gemmBuiltin): A and/or B may be bf16
// (uint16 bit patterns), and bf16Compute multiplies bf16-rounded values with float32 accumulation.
struct GemmTypes {
  bool aBf16 = false, bBf16 = false, bf16Compute = false;
};

// C[o] = act(op(A[o]) op(B[o]) + bias), op = transpose when the flag is set. bias: null, 1 or N values. Strides and
// batch offsets count elements of each operand's type; anything bf16 runs on the built-in gemm.
void gemm(const void* a, const void* b, float* c, int M, int N, int K, bool transA, bool transB, const GemmBatch& batch,
          const float* bias, size_t biasSize, int activation, float leakyAlpha, const GemmTypes& types = GemmTypes());

// out[o, i] = scale * sum_m x[o, m, i] for x viewed as [outer, mid, inner].
void reduceSum(const float* x, float* out, size_t outer, size_t mid, size_t inner, float scale);

// out[o, i] = max_m x[o, m, i] (same view).
void reduceMax(const float* x, float* out, size_t outer, size_t mid, size_t inner);

enum Unary { kExp = 0, kErf = 1, kSigmoidOp = 2, kSqrt = 3, kRsqrt = 4, kSquare = 5, kNeg = 6 };
void unary(int op, const float* x, float* out, size_t n);

// Softmax over the last axis of a [rows, cols] matrix.
void softmax(const float* x, float* out, size_t rows, size_t cols);

// In-place AdamW (PyTorch formulation, decoupled decay), on the gradient g * gscale (gradient clipping's coefficient,
// folded in instead of a pass that scales the gradients first):
//   p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= (lr/bc1) m / (sqrt(v)/sqrt(bc2) + eps)
void adamw(float* p, float* m, float* v, const float* g, size_t n, float lr, float b1, float b2, float eps, float bc1, float bc2,
           float wd, float gscale = 1.0f);

// sum x^2, accumulated in double (a gradient's squared L2 norm without a squared temporary).
double sumSquares(const float* x, size_t n);
// x *= s in place.
void scaleInPlace(float* x, size_t n, float s);

enum Binary { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kSquaredDifference = 4, kMaximum = 5, kMinimum = 6 };
// out = a op b with broadcasting given as collapsed dims and per-input element strides (0 = broadcast); the
// innermost strides are 0 or 1.
void binary(int op, const float* a, const float* b, float* out, const int32_t* dims, const int32_t* as, const int32_t* bs, int rank);

// out[o, i, :] = x[o, idx[i], :] for x viewed as [outer, axisDim, inner]. Returns false (writing nothing) when an
// index is outside [0, axisDim).
bool gather(const float* x, const int32_t* idx, float* out, size_t outer, size_t axisDim, size_t inner, size_t nIdx);

// Permutation that keeps the last axis: out row r (of `rank` row dims `dims`) is `inner` contiguous 4-byte values
// copied from x + sum_d coord_d(r) * strides[d].
void permuteRows(const float* x, float* out, const int32_t* dims, const int64_t* strides, int rank, size_t inner);

}  // namespace altclip
