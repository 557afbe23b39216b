#include "kernels.h"

#ifdef ALTCLIP_OPENBLAS
#include <cblas.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fused_vec.h"
#include "pool.h"
#include "sgemm.h"

// Elementwise loops are written so GCC vectorises them; on x86-64 they are compiled twice (x86-64-v3: AVX2+FMA, and
// baseline) and picked at load time, so the addon still runs on CPUs without AVX2.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VEC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VEC_CLONES
#endif

namespace altclip {
namespace {

// Elements per parallel chunk. Memory-bound loops (copies, adds, reductions) gain little from a second thread and
// on a loaded machine lose more when a preempted worker holds a chunk, so they split only when large; exp/erf
// style loops are compute-bound and split sooner.
constexpr size_t kGrain = 1 << 20;
constexpr size_t kMathGrain = 1 << 17;

// 8-lane float vectors and exp/erf/sigmoid: fused_vec.h, shared with the fused kernels (same results there).
using fvec::erfV;
using fvec::expV;
using fvec::load8;
using fvec::sigmoidV;
using fvec::splat;
using fvec::store8;
using fvec::v8f;
using fvec::v8i;

// Applies f to x[0..n) into out, 8 lanes at a time; the tail goes through a padded buffer.
template <typename F>
__attribute__((always_inline)) inline void mapV(const float* x, float* out, size_t n, F f) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) store8(out + i, f(load8(x + i)));
  if (i < n) {
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, x + i, (n - i) * 4);
    store8(buf, f(load8(buf)));
    std::memcpy(out + i, buf, (n - i) * 4);
  }
}

VEC_CLONES void unaryRange(int op, const float* __restrict x, float* __restrict out, size_t n) {
  switch (op) {
    case kExp:
      mapV(x, out, n, expV);
      break;
    case kErf:
      mapV(x, out, n, erfV);
      break;
    case kSigmoidOp:
      mapV(x, out, n, sigmoidV);
      break;
    case kSqrt:
      for (size_t i = 0; i < n; i++) out[i] = std::sqrt(x[i]);
      break;
    case kRsqrt:
      for (size_t i = 0; i < n; i++) out[i] = 1.0f / std::sqrt(x[i]);
      break;
    case kSquare:
      for (size_t i = 0; i < n; i++) out[i] = x[i] * x[i];
      break;
    case kNeg:
      for (size_t i = 0; i < n; i++) out[i] = -x[i];
      break;
  }
}

VEC_CLONES void epilogueRows(float* __restrict c, size_t rows, size_t N, const float* __restrict bias, size_t biasSize, int act,
                             float alpha) {
  for (size_t r = 0; r < rows; r++) {
    float* row = c + r * N;
    if (bias) {
      if (biasSize == 1) {
        float b0 = bias[0];
        for (size_t j = 0; j < N; j++) row[j] += b0;
      } else {
        for (size_t j = 0; j < N; j++) row[j] += bias[j];
      }
    }
    switch (act) {
      case kRelu:
        for (size_t j = 0; j < N; j++) row[j] = row[j] > 0 ? row[j] : 0.0f;
        break;
      case kRelu6:
        for (size_t j = 0; j < N; j++) row[j] = std::min(std::max(row[j], 0.0f), 6.0f);
        break;
      case kSigmoid:
        mapV(row, row, N, sigmoidV);
        break;
      case kLeakyRelu:
        for (size_t j = 0; j < N; j++) row[j] = row[j] < 0 ? alpha * row[j] : row[j];
        break;
      case kElu:
        mapV(row, row, N, [](v8f v) { return v < 0.0f ? expV(v) - 1.0f : v; });
        break;
      default:
        break;
    }
  }
}

// Sum of x[0..n) with 16 independent partial sums (vectorises without -ffast-math).
VEC_CLONES float sumContiguous(const float* __restrict x, size_t n) {
  float acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] += x[i + k];
  float s = 0;
  for (; i < n; i++) s += x[i];
  for (int k = 0; k < 16; k++) s += acc[k];
  return s;
}

VEC_CLONES float maxContiguous(const float* __restrict x, size_t n) {
  float acc[16];
  for (int k = 0; k < 16; k++) acc[k] = -INFINITY;
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] = std::max(acc[k], x[i + k]);
  float m = -INFINITY;
  for (; i < n; i++) m = std::max(m, x[i]);
  for (int k = 0; k < 16; k++) m = std::max(m, acc[k]);
  return m;
}

// out[i] (+)= x[i] over a strip.
VEC_CLONES void addStrip(float* __restrict out, const float* __restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] += x[i];
}
VEC_CLONES void maxStrip(float* __restrict out, const float* __restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = std::max(out[i], x[i]);
}
VEC_CLONES void scaleStrip(float* __restrict out, float s, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] *= s;
}

VEC_CLONES void softmaxRows(const float* __restrict x, float* __restrict out, size_t r0, size_t r1, size_t cols) {
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* o = out + r * cols;
    float mx = maxContiguous(xr, cols);
    mapV(xr, o, cols, [mx](v8f v) { return expV(v - mx); });
    float inv = 1.0f / sumContiguous(o, cols);
    for (size_t j = 0; j < cols; j++) o[j] *= inv;
  }
}

VEC_CLONES void adamwRange(float* __restrict p, float* __restrict m, float* __restrict v, const float* __restrict g, size_t n, float lr,
                           float b1, float b2, float eps, float bc1, float bc2, float wd, float gscale) {
  const float decay = 1.0f - lr * wd, step = lr / bc1, rs2 = 1.0f / std::sqrt(bc2), c1 = 1.0f - b1, c2 = 1.0f - b2;
  for (size_t i = 0; i < n; i++) {
    // gscale == 1 multiplies exactly (no rounding), so unclipped steps are bit-identical to before.
    float gi = g[i] * gscale;
    float mi = b1 * m[i] + c1 * gi;
    float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * mi / (std::sqrt(vi) * rs2 + eps);
  }
}

template <typename F>
__attribute__((always_inline)) inline void binaryLoop(const float* __restrict a, int sa, const float* __restrict b, int sb, float* __restrict o, size_t n, F f) {
  if (sa && sb) {
    for (size_t i = 0; i < n; i++) o[i] = f(a[i], b[i]);
  } else if (sa) {
    const float bv = b[0];
    for (size_t i = 0; i < n; i++) o[i] = f(a[i], bv);
  } else if (sb) {
    const float av = a[0];
    for (size_t i = 0; i < n; i++) o[i] = f(av, b[i]);
  } else {
    const float v = f(a[0], b[0]);
    for (size_t i = 0; i < n; i++) o[i] = v;
  }
}

VEC_CLONES void binaryRow(int op, const float* a, int sa, const float* b, int sb, float* o, size_t n) {
  switch (op) {
    case kAdd: binaryLoop(a, sa, b, sb, o, n, [](float x, float y) { return x + y; }); break;
    case kSub: binaryLoop(a, sa, b, sb, o, n, [](float x, float y) { return x - y; }); break;
    case kMul: binaryLoop(a, sa, b, sb, o, n, [](float x, float y) { return x * y; }); break;
    case kDiv: binaryLoop(a, sa, b, sb, o, n, [](float x, float y) { return x / y; }); break;
    case kSquaredDifference: binaryLoop(a, sa, b, sb, o, n, [](float x, float y) { return (x - y) * (x - y); }); break;
    // NaN-propagating like tfjs (std::max would drop a NaN in the first operand)
    case kMaximum: binaryLoop(a, sa, b, sb, o, n, [](float x, float y) { return x != x || y != y ? x + y : (x > y ? x : y); }); break;
    case kMinimum: binaryLoop(a, sa, b, sb, o, n, [](float x, float y) { return x != x || y != y ? x + y : (x < y ? x : y); }); break;
  }
}

}  // namespace

void binary(int op, const float* a, const float* b, float* out, const int32_t* dims, const int32_t* as, const int32_t* bs, int rank) {
  const size_t inner = (size_t)dims[rank - 1];
  const int sa = as[rank - 1], sb = bs[rank - 1];
  size_t rows = 1;
  for (int d = 0; d < rank - 1; d++) rows *= (size_t)dims[d];
  size_t grain = std::max<size_t>(1, kGrain / std::max<size_t>(inner, 1));
  parallelFor(rows, grain, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      size_t rem = r, ao = 0, bo = 0;
      for (int d = rank - 2; d >= 0; d--) {
        size_t c = rem % (size_t)dims[d];
        rem /= (size_t)dims[d];
        ao += c * (size_t)as[d];
        bo += c * (size_t)bs[d];
      }
      binaryRow(op, a + ao, sa, b + bo, sb, out + r * inner, inner);
    }
  });
}

bool gather(const float* x, const int32_t* idx, float* out, size_t outer, size_t axisDim, size_t inner, size_t nIdx) {
  for (size_t i = 0; i < nIdx; i++)
    if (idx[i] < 0 || (size_t)idx[i] >= axisDim) return false;
  size_t grain = std::max<size_t>(1, kGrain / std::max<size_t>(inner, 1));
  parallelFor(outer * nIdx, grain, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      size_t o = r / nIdx, i = r % nIdx;
      std::memcpy(out + r * inner, x + (o * axisDim + (size_t)idx[i]) * inner, inner * 4);
    }
  });
  return true;
}

void permuteRows(const float* x, float* out, const int32_t* dims, const int64_t* strides, int rank, size_t inner) {
  size_t rows = 1;
  for (int d = 0; d < rank; d++) rows *= (size_t)dims[d];
  size_t grain = std::max<size_t>(1, kGrain / std::max<size_t>(inner, 1));
  parallelFor(rows, grain, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      size_t rem = r, src = 0;
      for (int d = rank - 1; d >= 0; d--) {
        size_t c = rem % (size_t)dims[d];
        rem /= (size_t)dims[d];
        src += c * (size_t)strides[d];
      }
      std::memcpy(out + r * inner, x + src, inner * 4);
    }
  });
}

void unary(int op, const float* x, float* out, size_t n) {
  size_t grain = op == kExp || op == kErf || op == kSigmoidOp ? kMathGrain : kGrain;
  parallelFor(n, grain, [&](size_t b, size_t e) { unaryRange(op, x + b, out + b, e - b); });
}

void softmax(const float* x, float* out, size_t rows, size_t cols) {
  size_t grain = std::max<size_t>(1, kMathGrain / std::max<size_t>(cols, 1));
  parallelFor(rows, grain, [&](size_t b, size_t e) { softmaxRows(x, out, b, e, cols); });
}

void adamw(float* p, float* m, float* v, const float* g, size_t n, float lr, float b1, float b2, float eps, float bc1, float bc2,
           float wd, float gscale) {
  parallelFor(n, kGrain, [&](size_t b, size_t e) { adamwRange(p + b, m + b, v + b, g + b, e - b, lr, b1, b2, eps, bc1, bc2, wd, gscale); });
}

VEC_CLONES double sumSquaresRange(const float* __restrict x, size_t n) {
  // 8 float partial sums per 1024-value block (vectorises), each block's total added in double.
  double total = 0;
  for (size_t i0 = 0; i0 < n; i0 += 1024) {
    const size_t e = std::min(n, i0 + 1024);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = i0;
    for (; i + 8 <= e; i += 8)
      for (int k = 0; k < 8; k++) acc[k] += x[i + k] * x[i + k];
    for (; i < e; i++) acc[0] += x[i] * x[i];
    double s = 0;
    for (int k = 0; k < 8; k++) s += acc[k];
    total += s;
  }
  return total;
}

double sumSquares(const float* x, size_t n) {
  const size_t chunks = std::max<size_t>(1, std::min<size_t>((size_t)poolThreads(), n / kGrain));
  std::vector<double> part(chunks, 0.0);
  parallelFor(chunks, 1, [&](size_t b, size_t e) {
    for (size_t c = b; c < e; c++) part[c] = sumSquaresRange(x + c * n / chunks, (c + 1) * n / chunks - c * n / chunks);
  });
  double s = 0;
  for (double v : part) s += v;
  return s;
}

void scaleInPlace(float* x, size_t n, float s) {
  parallelFor(n, kGrain, [&](size_t b, size_t e) { scaleStrip(x + b, s, e - b); });
}

// Reduces the middle axis of [outer, mid, inner]. inner == 1: one contiguous row per output (`row`); otherwise
// each task owns a strip of `inner` for every outer index, starts from the first mid row and folds the others
// in with `fold`, then `finish` (e.g. a mean's scale) runs on the strip.
template <typename Row, typename Fold, typename Finish>
static void reduceMiddle(const float* x, float* out, size_t outer, size_t mid, size_t inner, Row row, Fold fold, Finish finish) {
  if (inner == 1) {
    size_t grain = std::max<size_t>(1, kGrain / std::max<size_t>(mid, 1));
    parallelFor(outer, grain, [&](size_t b, size_t e) {
      for (size_t o = b; o < e; o++) out[o] = row(x + o * mid, mid);
    });
    return;
  }
  size_t strip = std::max<size_t>(64, std::min<size_t>(inner, kGrain / std::max<size_t>(mid, 1)));
  size_t strips = (inner + strip - 1) / strip;
  parallelFor(outer * strips, 1, [&](size_t b, size_t e) {
    for (size_t t = b; t < e; t++) {
      size_t o = t / strips, i0 = (t % strips) * strip, len = std::min(strip, inner - i0);
      float* dst = out + o * inner + i0;
      const float* src = x + o * mid * inner + i0;
      std::memcpy(dst, src, len * 4);
      for (size_t m = 1; m < mid; m++) fold(dst, src + m * inner, len);
      finish(dst, len);
    }
  });
}

void reduceSum(const float* x, float* out, size_t outer, size_t mid, size_t inner, float scale) {
  reduceMiddle(
      x, out, outer, mid, inner, [scale](const float* r, size_t n) { return scale * sumContiguous(r, n); },
      [](float* d, const float* r, size_t n) { addStrip(d, r, n); },
      [scale](float* d, size_t n) {
        if (scale != 1.0f) scaleStrip(d, scale, n);
      });
}

void reduceMax(const float* x, float* out, size_t outer, size_t mid, size_t inner) {
  reduceMiddle(
      x, out, outer, mid, inner, [](const float* r, size_t n) { return maxContiguous(r, n); },
      [](float* d, const float* r, size_t n) { maxStrip(d, r, n); }, [](float*, size_t) {});
}

void gemm(const void* a, const void* b, float* c, int M, int N, int K, bool transA, bool transB, const GemmBatch& batch,
          const float* bias, size_t biasSize, int activation, float leakyAlpha, const GemmTypes& types) {
  const int lda = transA ? M : K, ldb = transB ? K : N;
  const double mnk = (double)M * N * K;
  // OpenBLAS (and the built-in gemm) run a gemm this small on one thread; spread the batch over the pool instead.
  // Larger ones use their own threads, one gemm at a time.
  const bool batchedSmall = batch.count > 1 && mnk <= 262144.0;
  const GemmMode mode = gemmMode();
  const bool anyBf16 = types.aBf16 || types.bBf16 || types.bf16Compute;
  const bool builtin = anyBf16 || mode == GemmMode::Builtin || (mode == GemmMode::Auto && builtinWins(M, K, batchedSmall));
  const size_t aBytes = types.aBf16 ? 2 : 4, bBytes = types.bBf16 ? 2 : 4;
  bool inPool = false;
  auto one = [&](size_t o) {
    const void* ao = (const char*)a + (batch.aIdx ? (size_t)batch.aIdx[o] : o) * batch.aStride * aBytes;
    const void* bo = (const char*)b + (batch.bIdx ? (size_t)batch.bIdx[o] : o) * batch.bStride * bBytes;
    float* co = c + o * (size_t)M * N;
    if (K == 0) {
      std::memset(co, 0, (size_t)M * N * 4);
    } else if (builtin) {
      gemmBuiltin({ao, lda, transA, types.aBf16}, {bo, ldb, transB, types.bBf16}, M, N, K, co, N, types.bf16Compute, !inPool);
    } else {
#ifdef ALTCLIP_OPENBLAS
      cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, (const float*)ao, lda,
                  (const float*)bo, ldb, 0.0f, co, N);
#endif
    }
  };
  if (batchedSmall) {
    inPool = true;
    parallelFor(batch.count, 1, [&](size_t b0, size_t e0) {
      for (size_t o = b0; o < e0; o++) one(o);
    });
  } else {
    for (size_t o = 0; o < batch.count; o++) one(o);
  }
  if (bias || activation != kLinear) {
    size_t rows = batch.count * (size_t)M;
    size_t grain = std::max<size_t>(1, kGrain / std::max<size_t>(N, 1));
    parallelFor(rows, grain, [&](size_t r0, size_t r1) { epilogueRows(c + r0 * N, r1 - r0, N, bias, biasSize, activation, leakyAlpha); });
  }
}

namespace {
GemmMode gMode = haveOpenBlas() ? GemmMode::Auto : GemmMode::Builtin;
}  // namespace

bool haveOpenBlas() {
#ifdef ALTCLIP_OPENBLAS
  return true;
#else
  return false;
#endif
}
GemmMode gemmMode() { return gMode; }
void setGemmMode(GemmMode mode) { gMode = haveOpenBlas() ? mode : GemmMode::Builtin; }

}  // namespace altclip
