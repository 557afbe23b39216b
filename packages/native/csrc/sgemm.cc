// Built-in SGEMM for machines without OpenBLAS (and for ALTCLIP_NATIVE_GEMM=builtin). Goto-style blocking:
// a KC x NC slice of B and the whole M x KC slice of A are packed into panels (zero-padded to the micro-tile),
// then a 6x16 register tile (12 accumulators of 8 floats) runs over them. The macro-kernel is compiled twice
// (x86-64-v3: AVX2 + FMA, and baseline) and picked at load time, like the elementwise kernels, so the binary
// stays portable. Tiles are spread over the pool's threads when the problem is large enough to pay for it.
#include "sgemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "pool.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GEMM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GEMM_CLONES
#endif

namespace altclip {
namespace {

typedef float v8f __attribute__((vector_size(32)));
constexpr int MR = 6, NR = 16;
// KC x NR floats of B (16 KiB) stay in L1 while a MC x KC block of A (96 KiB) stays in L2.
constexpr int KC = 256, MC = 96, NC = 4096;

inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, v8f v) { std::memcpy(p, &v, sizeof v); }

// acc(MR x NR) = sum_k a[k*MR + i] * b[k*NR + j]; then C (ldc) = acc (first) or C + acc, only the valid m x n part.
__attribute__((always_inline)) inline void microKernel(int kc, const float* a, const float* b, float* c, int ldc, int m, int n, bool first) {
  v8f acc[MR][2] = {};
  for (int k = 0; k < kc; k++) {
    const v8f b0 = load8(b), b1 = load8(b + 8);
    for (int i = 0; i < MR; i++) {
      const v8f ai = v8f{} + a[i];
      acc[i][0] += ai * b0;
      acc[i][1] += ai * b1;
    }
    a += MR;
    b += NR;
  }
  if (m == MR && n == NR) {
    for (int i = 0; i < MR; i++) {
      float* ci = c + (size_t)i * ldc;
      if (first) {
        store8(ci, acc[i][0]);
        store8(ci + 8, acc[i][1]);
      } else {
        store8(ci, load8(ci) + acc[i][0]);
        store8(ci + 8, load8(ci + 8) + acc[i][1]);
      }
    }
    return;
  }
  float tile[MR][NR];
  for (int i = 0; i < MR; i++) {
    store8(tile[i], acc[i][0]);
    store8(tile[i] + 8, acc[i][1]);
  }
  for (int i = 0; i < m; i++) {
    float* ci = c + (size_t)i * ldc;
    for (int j = 0; j < n; j++) ci[j] = first ? tile[i][j] : ci[j] + tile[i][j];
  }
}

// Runs the micro-kernel over rows [i0, i1) (multiples of MR except at M) and NR-panels [p0, p1) of the packed slices.
GEMM_CLONES void macroKernel(int kc, const float* pa, const float* pb, float* c, int ldc, int M, int N, int i0, int i1, int p0, int p1,
                             bool first) {
  for (int p = p0; p < p1; p++) {
    const int j = p * NR, n = std::min(NR, N - j);
    for (int i = i0; i < i1; i += MR) {
      microKernel(kc, pa + (size_t)i * kc, pb + (size_t)p * kc * NR, c + (size_t)i * ldc + j, ldc, std::min(MR, M - i), n, first);
    }
  }
}

// Packs rows [0, M) x k [k0, k0+kc) of op(A) into MR-row panels: panel r holds, for each k, MR consecutive values.
void packA(const float* a, int lda, bool transA, int M, int k0, int kc, float* out, int r0, int r1) {
  for (int r = r0; r < r1; r++) {
    float* dst = out + (size_t)r * MR * kc;
    const int i0 = r * MR, m = std::min(MR, M - i0);
    for (int k = 0; k < kc; k++) {
      for (int i = 0; i < MR; i++) {
        // op(A)[i, k] = transA ? a[k * lda + i] : a[i * lda + k]
        dst[k * MR + i] = i < m ? (transA ? a[(size_t)(k0 + k) * lda + i0 + i] : a[(size_t)(i0 + i) * lda + k0 + k]) : 0.f;
      }
    }
  }
}

// Packs k [k0, k0+kc) x columns [j0, j0+nc) of op(B) into NR-column panels [p0, p1).
void packB(const float* b, int ldb, bool transB, int j0, int nc, int k0, int kc, float* out, int p0, int p1) {
  for (int p = p0; p < p1; p++) {
    float* dst = out + (size_t)p * NR * kc;
    const int jj = j0 + p * NR, n = std::min(NR, nc - p * NR);
    for (int k = 0; k < kc; k++) {
      float* d = dst + k * NR;
      if (!transB && n == NR) {
        std::memcpy(d, b + (size_t)(k0 + k) * ldb + jj, NR * 4);
        continue;
      }
      for (int j = 0; j < NR; j++) d[j] = j < n ? (transB ? b[(size_t)(jj + j) * ldb + k0 + k] : b[(size_t)(k0 + k) * ldb + jj + j]) : 0.f;
    }
  }
}

}  // namespace

void sgemmBuiltin(bool transA, bool transB, int M, int N, int K, const float* a, int lda, const float* b, int ldb, float* c, int ldc,
                  bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int i = 0; i < M; i++) std::memset(c + (size_t)i * ldc, 0, (size_t)N * 4);
    return;
  }
  // Below ~2 MFLOP a second thread costs more (wake-up, a preempted worker on a loaded machine) than it saves.
  const bool par = parallel && poolThreads() > 1 && (double)M * N * K >= 1e6;
  const int panelsA = (M + MR - 1) / MR;
  thread_local std::vector<float> bufA, bufB;
  const int kcMax = std::min(K, KC), ncMax = std::min(N, NC);
  bufA.resize((size_t)panelsA * MR * kcMax);
  bufB.resize((size_t)((ncMax + NR - 1) / NR) * NR * kcMax);
  float* pa = bufA.data();
  float* pb = bufB.data();
  const int blocksM = (M + MC - 1) / MC;
  for (int j0 = 0; j0 < N; j0 += NC) {
    const int nc = std::min(NC, N - j0), panelsB = (nc + NR - 1) / NR;
    for (int k0 = 0; k0 < K; k0 += KC) {
      const int kc = std::min(KC, K - k0);
      const bool first = k0 == 0;
      float* cj = c + j0;
      if (!par) {
        packB(b, ldb, transB, j0, nc, k0, kc, pb, 0, panelsB);
        packA(a, lda, transA, M, k0, kc, pa, 0, panelsA);
        for (int i = 0; i < M; i += MC) macroKernel(kc, pa, pb, cj, ldc, M, nc, i, std::min(M, i + MC), 0, panelsB, first);
        continue;
      }
      parallelFor((size_t)panelsB + panelsA, 1, [&](size_t s, size_t e) {
        for (size_t t = s; t < e; t++) {
          if (t < (size_t)panelsB) packB(b, ldb, transB, j0, nc, k0, kc, pb, (int)t, (int)t + 1);
          else packA(a, lda, transA, M, k0, kc, pa, (int)(t - panelsB), (int)(t - panelsB) + 1);
        }
      });
      // Tasks: MC row blocks x column chunks of NR-panels, enough of them for every thread to get work.
      const int chunksN = std::max(1, std::min(panelsB, (poolThreads() * 4 + blocksM - 1) / blocksM));
      const int perChunk = (panelsB + chunksN - 1) / chunksN;
      parallelFor((size_t)blocksM * chunksN, 1, [&](size_t s, size_t e) {
        for (size_t t = s; t < e; t++) {
          const int bi = (int)(t / chunksN), bj = (int)(t % chunksN);
          const int p0 = bj * perChunk, p1 = std::min(panelsB, p0 + perChunk);
          if (p0 < p1) macroKernel(kc, pa, pb, cj, ldc, M, nc, bi * MC, std::min(M, bi * MC + MC), p0, p1, first);
        }
      });
    }
  }
}

}  // namespace altclip
