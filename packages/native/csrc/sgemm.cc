// Built-in SGEMM (used without OpenBLAS, with ALTCLIP_NATIVE_GEMM=builtin, and for the shapes where it wins).
// Goto-style blocking: a KC x NC slice of B and the whole M x KC slice of A are packed into panels (zero-padded to
// the micro-tile, 64-byte aligned), then a register tile runs over them, one NR-column panel of B (kept in L1)
// against the MC-row block of A (kept in L2). Three code paths, picked when the addon loads (sgemmIsa()), so the
// binary needs no -march=native and still runs on any x86-64:
//   avx512:   14x32 tile, 28 zmm accumulators, A broadcast from memory, masked loads/stores at the edges;
//   avx2:     6x16 tile, 12 ymm accumulators (x86-64-v3, GCC vector extensions);
//   baseline: the same 6x16 code compiled for the default target.
// Tiles are spread over the pool's threads when the problem is large enough to pay for it.
#include "sgemm.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "pool.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SGEMM_X86 1
#include <immintrin.h>
#define TARGET_AVX2 __attribute__((target("arch=x86-64-v3")))
#define TARGET_AVX512 __attribute__((target("arch=x86-64-v4")))
#define TARGET_AVX512BF16 __attribute__((target("arch=x86-64-v4,avx512bf16")))
#endif

namespace altclip {
namespace {

// How one code path blocks the problem: MR x NR register tile, KC (depth of a packed slice), MC (rows of A per
// L2 block, a multiple of MR), NC (columns of B per packed slice, a multiple of NR).
struct Geometry {
  int mr, nr, kc, mc, nc;
};

// Runs the tile over rows [i0, i1) (multiples of MR except at M) and NR-panels [p0, p1) of the packed slices;
// `first`: the first KC slice (store, else accumulate into C).
typedef void (*MacroFn)(int kc, const float* pa, const float* pb, float* c, int ldc, int M, int N, int i0, int i1, int p0, int p1,
                        bool first);
// Pack MR-row panels [r0, r1) of rows [0, M) x k [k0, k0+kc) of op(A): for each k, MR consecutive values (bf16
// tiles: for each pair of k, MR 32-bit words holding the pair, so a panel takes MR * ceil(kc / 2) floats' room).
typedef void (*PackAFn)(const GemmOperand& a, int M, int k0, int kc, float* out, int r0, int r1);
// Pack NR-column panels [p0, p1) of k [k0, k0+kc) x columns [j0, j0+nc) of op(B): for each k, NR consecutive values.
typedef void (*PackBFn)(const GemmOperand& b, int j0, int nc, int k0, int kc, float* out, int p0, int p1);

struct Kernel {
  const char* name;
  const char* description;
  Geometry g;
  MacroFn macro;
  PackAFn packA;
  PackBFn packB;
};

// ---- bf16 values ----

inline float bitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t floatToBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
// Round to nearest even; a NaN keeps its sign and becomes quiet (rounding could carry it into infinity).
__attribute__((always_inline)) inline uint16_t bf16Bits(float f) {
  const uint32_t u = floatToBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
__attribute__((always_inline)) inline uint16_t bf16Bits(uint16_t h) { return h; }
__attribute__((always_inline)) inline float asFloat(float f) { return f; }
__attribute__((always_inline)) inline float asFloat(uint16_t h) { return bitsToFloat((uint32_t)h << 16); }

// ---- portable packing (any MR/NR) ----

template <int MR, typename T>
void packAGenericT(const T* a, int lda, bool transA, int M, int k0, int kc, float* out, int r0, int r1) {
  for (int r = r0; r < r1; r++) {
    float* dst = out + (size_t)r * MR * kc;
    const int i0 = r * MR, m = std::min(MR, M - i0);
    if (transA) {
      // op(A)[i, k] = a[k * lda + i]: MR consecutive values per k.
      for (int k = 0; k < kc; k++) {
        const T* src = a + (size_t)(k0 + k) * lda + i0;
        for (int i = 0; i < MR; i++) dst[k * MR + i] = i < m ? asFloat(src[i]) : 0.f;
      }
    } else {
      // op(A)[i, k] = a[i * lda + k]: read each row contiguously, write with stride MR.
      for (int i = 0; i < MR; i++) {
        if (i < m) {
          const T* src = a + (size_t)(i0 + i) * lda + k0;
          for (int k = 0; k < kc; k++) dst[k * MR + i] = asFloat(src[k]);
        } else {
          for (int k = 0; k < kc; k++) dst[k * MR + i] = 0.f;
        }
      }
    }
  }
}

template <int NR, typename T>
void packBGenericT(const T* b, int ldb, bool transB, int j0, int nc, int k0, int kc, float* out, int p0, int p1) {
  for (int p = p0; p < p1; p++) {
    float* dst = out + (size_t)p * NR * kc;
    const int jj = j0 + p * NR, n = std::min(NR, nc - p * NR);
    if (transB) {
      // op(B)[k, j] = b[j * ldb + k]: read each row of b contiguously, write with stride NR.
      for (int j = 0; j < NR; j++) {
        if (j < n) {
          const T* src = b + (size_t)(jj + j) * ldb + k0;
          for (int k = 0; k < kc; k++) dst[k * NR + j] = asFloat(src[k]);
        } else {
          for (int k = 0; k < kc; k++) dst[k * NR + j] = 0.f;
        }
      }
    } else {
      for (int k = 0; k < kc; k++) {
        const T* src = b + (size_t)(k0 + k) * ldb + jj;
        float* d = dst + k * NR;
        if (sizeof(T) == 4 && n == NR) {
          std::memcpy(d, src, NR * 4);
        } else {
          for (int j = 0; j < NR; j++) d[j] = j < n ? asFloat(src[j]) : 0.f;
        }
      }
    }
  }
}

template <int MR>
void packAGeneric(const GemmOperand& a, int M, int k0, int kc, float* out, int r0, int r1) {
  if (a.bf16) packAGenericT<MR>((const uint16_t*)a.p, a.ld, a.trans, M, k0, kc, out, r0, r1);
  else packAGenericT<MR>((const float*)a.p, a.ld, a.trans, M, k0, kc, out, r0, r1);
}
template <int NR>
void packBGeneric(const GemmOperand& b, int j0, int nc, int k0, int kc, float* out, int p0, int p1) {
  if (b.bf16) packBGenericT<NR>((const uint16_t*)b.p, b.ld, b.trans, j0, nc, k0, kc, out, p0, p1);
  else packBGenericT<NR>((const float*)b.p, b.ld, b.trans, j0, nc, k0, kc, out, p0, p1);
}

// ---- bf16 packing: a panel holds, for each pair of k (k0 + 2s, k0 + 2s + 1), MR (NR) 32-bit words whose low half is
// the bf16 at the even k and high half the one at the odd k (zero past kc, past M and past N): what vdpbf16ps takes.
// Float32 operands are rounded here, so the conversion costs one pass over the packed values, not over the operands.

__attribute__((always_inline)) inline uint32_t bf16Pair(uint16_t lo, uint16_t hi) { return (uint32_t)lo | (uint32_t)hi << 16; }

template <int MR, typename T>
__attribute__((always_inline)) inline void packABf16T(const T* a, int lda, bool transA, int M, int k0, int kc, float* out, int r0, int r1) {
  const int slots = (kc + 1) / 2;
  for (int r = r0; r < r1; r++) {
    uint32_t* dst = reinterpret_cast<uint32_t*>(out) + (size_t)r * MR * slots;
    const int i0 = r * MR, m = std::min(MR, M - i0);
    if (transA) {
      // op(A)[i, k] = a[k * lda + i]: rows k and k + 1 of a give the low and high halves of MR words.
      for (int s = 0; s < slots; s++) {
        const T* e = a + (size_t)(k0 + 2 * s) * lda + i0;
        const bool odd = 2 * s + 1 < kc;
        for (int i = 0; i < MR; i++) dst[s * MR + i] = i < m ? bf16Pair(bf16Bits(e[i]), odd ? bf16Bits(e[lda + i]) : 0) : 0;
      }
    } else {
      // op(A)[i, k] = a[i * lda + k]: consecutive pairs of a row.
      for (int i = 0; i < MR; i++) {
        const T* src = a + (size_t)(i0 + i) * lda + k0;
        for (int s = 0; s < kc / 2; s++) dst[s * MR + i] = i < m ? bf16Pair(bf16Bits(src[2 * s]), bf16Bits(src[2 * s + 1])) : 0;
        if (kc & 1) dst[(slots - 1) * MR + i] = i < m ? bf16Pair(bf16Bits(src[kc - 1]), 0) : 0;
      }
    }
  }
}

template <int NR, typename T>
__attribute__((always_inline)) inline void packBBf16T(const T* b, int ldb, bool transB, int j0, int nc, int k0, int kc, float* out, int p0,
                                                      int p1) {
  const int slots = (kc + 1) / 2;
  for (int p = p0; p < p1; p++) {
    uint32_t* dst = reinterpret_cast<uint32_t*>(out) + (size_t)p * NR * slots;
    const int jj = j0 + p * NR, n = std::min(NR, nc - p * NR);
    if (transB) {
      // op(B)[k, j] = b[j * ldb + k]: consecutive pairs of a row of b.
      for (int j = 0; j < NR; j++) {
        const T* src = b + (size_t)(jj + j) * ldb + k0;
        for (int s = 0; s < kc / 2; s++) dst[s * NR + j] = j < n ? bf16Pair(bf16Bits(src[2 * s]), bf16Bits(src[2 * s + 1])) : 0;
        if (kc & 1) dst[(slots - 1) * NR + j] = j < n ? bf16Pair(bf16Bits(src[kc - 1]), 0) : 0;
      }
    } else {
      // op(B)[k, j] = b[k * ldb + j]: rows k and k + 1 give the two halves.
      for (int s = 0; s < slots; s++) {
        const T* e = b + (size_t)(k0 + 2 * s) * ldb + jj;
        uint32_t* d = dst + (size_t)s * NR;
        if (n == NR && 2 * s + 1 < kc) {
          for (int j = 0; j < NR; j++) d[j] = bf16Pair(bf16Bits(e[j]), bf16Bits(e[ldb + j]));
        } else {
          const bool odd = 2 * s + 1 < kc;
          for (int j = 0; j < NR; j++) d[j] = j < n ? bf16Pair(bf16Bits(e[j]), odd ? bf16Bits(e[ldb + j]) : 0) : 0;
        }
      }
    }
  }
}

template <int MR>
__attribute__((always_inline)) inline void packABf16(const GemmOperand& a, int M, int k0, int kc, float* out, int r0, int r1) {
  if (a.bf16) packABf16T<MR>((const uint16_t*)a.p, a.ld, a.trans, M, k0, kc, out, r0, r1);
  else packABf16T<MR>((const float*)a.p, a.ld, a.trans, M, k0, kc, out, r0, r1);
}
template <int NR>
__attribute__((always_inline)) inline void packBBf16(const GemmOperand& b, int j0, int nc, int k0, int kc, float* out, int p0, int p1) {
  if (b.bf16) packBBf16T<NR>((const uint16_t*)b.p, b.ld, b.trans, j0, nc, k0, kc, out, p0, p1);
  else packBBf16T<NR>((const float*)b.p, b.ld, b.trans, j0, nc, k0, kc, out, p0, p1);
}

// ---- 6x16 tile (avx2 and baseline) ----

typedef float v8f __attribute__((vector_size(32)));
constexpr int MR6 = 6, NR16 = 16;

inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, v8f v) { std::memcpy(p, &v, sizeof v); }

typedef uint32_t v8u __attribute__((vector_size(32)));

inline v8u load8u(const uint32_t* p) {
  v8u v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// acc(MR x NR) = sum_k a[k*MR + i] * b[k*NR + j]; then C (ldc) = acc (first) or C + acc, only the valid m x n part.
// BF16: a and b are bf16 pair panels (packABf16/packBBf16); each pair is widened to two float32 products, added
// odd k first as vdpbf16ps does (bf16 products are exact in float32, so an FMA equals its product and add).
template <bool BF16>
__attribute__((always_inline)) inline void micro6x16(int kc, const float* a, const float* b, float* c, int ldc, int m, int n, bool first) {
  v8f acc[MR6][2] = {};
  if (BF16) {
    const uint32_t* aw = reinterpret_cast<const uint32_t*>(a);
    const uint32_t* bw = reinterpret_cast<const uint32_t*>(b);
    const v8u himask = v8u{} + 0xffff0000u;
    for (int s = 0, slots = (kc + 1) / 2; s < slots; s++) {
      const v8u w0 = load8u(bw), w1 = load8u(bw + 8);
      const v8f e0 = (v8f)(w0 << 16), o0 = (v8f)(w0 & himask), e1 = (v8f)(w1 << 16), o1 = (v8f)(w1 & himask);
      for (int i = 0; i < MR6; i++) {
        const v8f ae = v8f{} + bitsToFloat(aw[i] << 16), ao = v8f{} + bitsToFloat(aw[i] & 0xffff0000u);
        acc[i][0] += ao * o0;
        acc[i][0] += ae * e0;
        acc[i][1] += ao * o1;
        acc[i][1] += ae * e1;
      }
      aw += MR6;
      bw += NR16;
    }
  } else {
    for (int k = 0; k < kc; k++) {
      const v8f b0 = load8(b), b1 = load8(b + 8);
      for (int i = 0; i < MR6; i++) {
        const v8f ai = v8f{} + a[i];
        acc[i][0] += ai * b0;
        acc[i][1] += ai * b1;
      }
      a += MR6;
      b += NR16;
    }
  }
  if (m == MR6 && n == NR16) {
    for (int i = 0; i < MR6; i++) {
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
  float tile[MR6][NR16];
  for (int i = 0; i < MR6; i++) {
    store8(tile[i], acc[i][0]);
    store8(tile[i] + 8, acc[i][1]);
  }
  for (int i = 0; i < m; i++) {
    float* ci = c + (size_t)i * ldc;
    for (int j = 0; j < n; j++) ci[j] = first ? tile[i][j] : ci[j] + tile[i][j];
  }
}

// Panel stride in floats per row (column) of a packed slice of depth kc: kc values, or ceil(kc / 2) bf16 pairs.
template <bool BF16>
constexpr int panelDepth(int kc) {
  return BF16 ? (kc + 1) / 2 : kc;
}

template <bool BF16>
__attribute__((always_inline)) inline void macro6x16Body(int kc, const float* pa, const float* pb, float* c, int ldc, int M, int N, int i0,
                                                         int i1, int p0, int p1, bool first) {
  const size_t depth = panelDepth<BF16>(kc);
  for (int p = p0; p < p1; p++) {
    const int j = p * NR16, n = std::min(NR16, N - j);
    for (int i = i0; i < i1; i += MR6) {
      micro6x16<BF16>(kc, pa + i * depth, pb + p * depth * NR16, c + (size_t)i * ldc + j, ldc, std::min(MR6, M - i), n, first);
    }
  }
}

#ifdef SGEMM_X86
TARGET_AVX2 void macroAvx2(int kc, const float* pa, const float* pb, float* c, int ldc, int M, int N, int i0, int i1, int p0, int p1,
                           bool first) {
  macro6x16Body<false>(kc, pa, pb, c, ldc, M, N, i0, i1, p0, p1, first);
}
TARGET_AVX2 void macroBf16Avx2(int kc, const float* pa, const float* pb, float* c, int ldc, int M, int N, int i0, int i1, int p0, int p1,
                               bool first) {
  macro6x16Body<true>(kc, pa, pb, c, ldc, M, N, i0, i1, p0, p1, first);
}
TARGET_AVX2 void packABf16Avx2(const GemmOperand& a, int M, int k0, int kc, float* out, int r0, int r1) { packABf16<MR6>(a, M, k0, kc, out, r0, r1); }
TARGET_AVX2 void packBBf16Avx2(const GemmOperand& b, int j0, int nc, int k0, int kc, float* out, int p0, int p1) {
  packBBf16<NR16>(b, j0, nc, k0, kc, out, p0, p1);
}
#endif

void macroBaseline(int kc, const float* pa, const float* pb, float* c, int ldc, int M, int N, int i0, int i1, int p0, int p1,
                   bool first) {
  macro6x16Body<false>(kc, pa, pb, c, ldc, M, N, i0, i1, p0, p1, first);
}
void macroBf16Baseline(int kc, const float* pa, const float* pb, float* c, int ldc, int M, int N, int i0, int i1, int p0, int p1,
                       bool first) {
  macro6x16Body<true>(kc, pa, pb, c, ldc, M, N, i0, i1, p0, p1, first);
}
void packABf16Baseline(const GemmOperand& a, int M, int k0, int kc, float* out, int r0, int r1) { packABf16<MR6>(a, M, k0, kc, out, r0, r1); }
void packBBf16Baseline(const GemmOperand& b, int j0, int nc, int k0, int kc, float* out, int p0, int p1) {
  packBBf16<NR16>(b, j0, nc, k0, kc, out, p0, p1);
}

// ---- 14x32 tile (AVX-512F) ----
#ifdef SGEMM_X86
constexpr int MR14 = 14, NR32 = 32;

// Lanes [0, n) of a 16-lane mask.
TARGET_AVX512 inline __mmask16 laneMask(int n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }

// acc(R x 16H) = sum_k a[k*14 + i] * b[k*32 + j] for i < R, j < 16H, in 2R zmm registers (A broadcast straight from
// memory), then the valid m x n part goes to C with masked stores (first: C = acc, else C += acc). R = 14, H = 2 is
// the full tile; edge tiles with m <= 7 rows or n <= 16 columns use R = 7 / H = 1 and skip the FMAs they would
// throw away (a 197-token attention product has a 5-column last panel and a 1-row last row panel).
// The valid m x n part of the R x 16H accumulators to C with masked stores (first: C = acc, else C += acc).
template <int R, int H>
TARGET_AVX512 __attribute__((always_inline)) inline void store14x32(const __m512* lo, const __m512* hi, float* c, int ldc, int m, int n,
                                                                    bool first) {
  const __mmask16 m0 = laneMask(n), m1 = laneMask(n - 16);
#pragma GCC unroll 14
  for (int i = 0; i < R; i++) {
    if (i < m) {
      float* ci = c + (size_t)i * ldc;
      if (first) {
        _mm512_mask_storeu_ps(ci, m0, lo[i]);
        if (H == 2) _mm512_mask_storeu_ps(ci + 16, m1, hi[i]);
      } else {
        _mm512_mask_storeu_ps(ci, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), lo[i]));
        if (H == 2) _mm512_mask_storeu_ps(ci + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), hi[i]));
      }
    }
  }
}

template <int R, int H>
TARGET_AVX512 __attribute__((always_inline)) inline void micro14x32(int kc, const float* a, const float* b, float* c, int ldc, int m, int n,
                                                                    bool first) {
  __m512 lo[R], hi[R];
#pragma GCC unroll 14
  for (int i = 0; i < R; i++) {
    lo[i] = _mm512_setzero_ps();
    hi[i] = _mm512_setzero_ps();
  }
#pragma GCC unroll 14
  for (int i = 0; i < R; i++) _mm_prefetch((const char*)(c + (size_t)i * ldc), _MM_HINT_T0);
  for (int k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_load_ps(b), b1 = H == 2 ? _mm512_load_ps(b + 16) : _mm512_setzero_ps();
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      lo[i] = _mm512_fmadd_ps(ai, b0, lo[i]);
      if (H == 2) hi[i] = _mm512_fmadd_ps(ai, b1, hi[i]);
    }
    a += MR14;
    b += NR32;
  }
  store14x32<R, H>(lo, hi, c, ldc, m, n, first);
}

// The same tile on bf16 pair panels: per pair of k, one vdpbf16ps per accumulator (per lane two products added to
// it: 64 flops per instruction, twice an FMA's, at about the same issue rate).
template <int R, int H>
TARGET_AVX512BF16 __attribute__((always_inline)) inline void micro14x32Bf16(int kc, const float* a, const float* b, float* c, int ldc, int m,
                                                                            int n, bool first) {
  __m512 lo[R], hi[R];
#pragma GCC unroll 14
  for (int i = 0; i < R; i++) {
    lo[i] = _mm512_setzero_ps();
    hi[i] = _mm512_setzero_ps();
  }
#pragma GCC unroll 14
  for (int i = 0; i < R; i++) _mm_prefetch((const char*)(c + (size_t)i * ldc), _MM_HINT_T0);
  const uint32_t* aw = reinterpret_cast<const uint32_t*>(a);
  const float* bw = b;
  for (int s = 0, slots = (kc + 1) / 2; s < slots; s++) {
    const __m512bh b0 = (__m512bh)_mm512_load_ps(bw), b1 = (__m512bh)(H == 2 ? _mm512_load_ps(bw + 16) : _mm512_setzero_ps());
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)aw[i]);
      lo[i] = _mm512_dpbf16_ps(lo[i], ai, b0);
      if (H == 2) hi[i] = _mm512_dpbf16_ps(hi[i], ai, b1);
    }
    aw += MR14;
    bw += NR32;
  }
  store14x32<R, H>(lo, hi, c, ldc, m, n, first);
}

#define MACRO14X32(NAME, TARGET, MICRO, BF16)                                                                                     \
  TARGET void NAME(int kc, const float* pa, const float* pb, float* c, int ldc, int M, int N, int i0, int i1, int p0, int p1, bool first) { \
    const size_t depth = panelDepth<BF16>(kc);                                                                                   \
    for (int p = p0; p < p1; p++) {                                                                                              \
      const int j = p * NR32, n = std::min(NR32, N - j);                                                                         \
      for (int i = i0; i < i1; i += MR14) {                                                                                      \
        const float* a = pa + i * depth;                                                                                         \
        const float* b = pb + p * depth * NR32;                                                                                  \
        float* ct = c + (size_t)i * ldc + j;                                                                                     \
        const int m = std::min(MR14, M - i);                                                                                     \
        if (m > 7) {                                                                                                             \
          if (n > 16) MICRO<14, 2>(kc, a, b, ct, ldc, m, n, first);                                                              \
          else MICRO<14, 1>(kc, a, b, ct, ldc, m, n, first);                                                                     \
        } else {                                                                                                                 \
          if (n > 16) MICRO<7, 2>(kc, a, b, ct, ldc, m, n, first);                                                               \
          else MICRO<7, 1>(kc, a, b, ct, ldc, m, n, first);                                                                      \
        }                                                                                                                        \
      }                                                                                                                          \
    }                                                                                                                            \
  }
MACRO14X32(macroAvx512, TARGET_AVX512, micro14x32, false)
MACRO14X32(macroAvx512Bf16, TARGET_AVX512BF16, micro14x32Bf16, true)
#undef MACRO14X32
TARGET_AVX512BF16 void packAAvx512Bf16(const GemmOperand& a, int M, int k0, int kc, float* out, int r0, int r1) {
  packABf16<MR14>(a, M, k0, kc, out, r0, r1);
}
TARGET_AVX512BF16 void packBAvx512Bf16(const GemmOperand& b, int j0, int nc, int k0, int kc, float* out, int p0, int p1) {
  packBBf16<NR32>(b, j0, nc, k0, kc, out, p0, p1);
}

// In-register transpose: r[i] lane j becomes r[j] lane i. (GCC 12's unpack intrinsics pass an "undefined"
// vector as the unused merge source, which -Wmaybe-uninitialized reports; harmless.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
TARGET_AVX512 __attribute__((always_inline)) inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++) {
    const int h = i / 4 * 8 + i % 4;
    t[h] = _mm512_shuffle_f32x4(r[h], r[h + 4], 0x88);
    t[h + 4] = _mm512_shuffle_f32x4(r[h], r[h + 4], 0xdd);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

// Transposes a `rows` x kc strip (row q at src + q * ld, rows <= 16) into dst[k * dstStride + q], lanes >= rows
// zero; `lanes` (a mask of `width` lanes) says which of dst's lanes a row covers.
TARGET_AVX512 __attribute__((always_inline)) inline void transposeStrip(const float* src, size_t ld, int rows, int kc, float* dst,
                                                                       int dstStride, __mmask16 lanes) {
  for (int k0 = 0; k0 < kc; k0 += 16) {
    const int kn = std::min(16, kc - k0);
    const __mmask16 km = laneMask(kn);
    __m512 r[16];
#pragma GCC unroll 16
    for (int q = 0; q < 16; q++) r[q] = _mm512_maskz_loadu_ps(q < rows ? km : (__mmask16)0, src + q * ld + k0);  // mask 0: no access
    transpose16(r);
    for (int q = 0; q < kn; q++) _mm512_mask_storeu_ps(dst + (size_t)(k0 + q) * dstStride, lanes, r[q]);
  }
}

#pragma GCC diagnostic pop

TARGET_AVX512 void packAAvx512(const GemmOperand& op, int M, int k0, int kc, float* out, int r0, int r1) {
  if (op.bf16) return packAGeneric<MR14>(op, M, k0, kc, out, r0, r1);
  const float* a = (const float*)op.p;
  const int lda = op.ld;
  const bool transA = op.trans;
  for (int r = r0; r < r1; r++) {
    float* dst = out + (size_t)r * MR14 * kc;
    const int i0 = r * MR14, m = std::min(MR14, M - i0);
    const __mmask16 all = laneMask(MR14);
    if (transA) {
      // op(A)[i, k] = a[k * lda + i]: 14 consecutive values per k.
      const __mmask16 mm = laneMask(m);
      for (int k = 0; k < kc; k++) _mm512_mask_storeu_ps(dst + k * MR14, all, _mm512_maskz_loadu_ps(mm, a + (size_t)(k0 + k) * lda + i0));
    } else {
      transposeStrip(a + (size_t)i0 * lda + k0, lda, m, kc, dst, MR14, all);
    }
  }
}

TARGET_AVX512 void packBAvx512(const GemmOperand& op, int j0, int nc, int k0, int kc, float* out, int p0, int p1) {
  if (op.bf16) return packBGeneric<NR32>(op, j0, nc, k0, kc, out, p0, p1);
  const float* b = (const float*)op.p;
  const int ldb = op.ld;
  const bool transB = op.trans;
  for (int p = p0; p < p1; p++) {
    float* dst = out + (size_t)p * NR32 * kc;
    const int jj = j0 + p * NR32, n = std::min(NR32, nc - p * NR32);
    if (transB) {
      // op(B)[k, j] = b[j * ldb + k]: two 16-row strips of b transposed into the panel's halves.
      for (int h = 0; h < 2; h++)
        transposeStrip(b + (size_t)(jj + 16 * h) * ldb + k0, ldb, std::max(0, std::min(16, n - 16 * h)), kc, dst + 16 * h, NR32, laneMask(16));
      continue;
    }
    const __mmask16 m0 = laneMask(n), m1 = laneMask(n - 16);
    for (int k = 0; k < kc; k++) {
      const float* src = b + (size_t)(k0 + k) * ldb + jj;
      _mm512_store_ps(dst + k * NR32, _mm512_maskz_loadu_ps(m0, src));
      _mm512_store_ps(dst + k * NR32 + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
  }
}
#endif

// ---- code paths ----

const Kernel kBaseline{"baseline", "baseline, 6x16 tile, default target", {MR6, NR16, 256, 96, 4096}, macroBaseline, packAGeneric<MR6>,
                       packBGeneric<NR16>};
#ifdef SGEMM_X86
const Kernel kAvx2{"avx2", "avx2, 6x16 tile, x86-64-v3 AVX2/FMA", {MR6, NR16, 256, 96, 4096}, macroAvx2, packAGeneric<MR6>, packBGeneric<NR16>};
// KC=384: per k the 14x32 tile reads 184 bytes of packed A and B for 28 FMAs, so operands streaming from L2 keep
// up and a deeper slice means fewer passes over C (128, 192, 256, 384, 512 measured on Zen 4: 384-512 best, within
// noise of each other). MC=336 rows keep the A block (516 KiB) in a 1 MiB L2.
const Kernel kAvx512{"avx512", "avx512, 14x32 tile, AVX-512F", {MR14, NR32, 384, 14 * 24, 4096}, macroAvx512, packAAvx512, packBAvx512};
const Kernel* const kKernels[] = {&kAvx512, &kAvx2, &kBaseline};
#else
const Kernel* const kKernels[] = {&kBaseline};
#endif

// bf16 tiles (bf16Compute). KC is even so that no pair of k straddles two slices; a bf16 slice takes half the bytes
// of a float32 one, so KC doubles for the same cache footprint.
const Kernel kBf16Baseline{"emulated", "emulated bf16, 6x16 tile, default target", {MR6, NR16, 512, 96, 4096}, macroBf16Baseline,
                           packABf16Baseline, packBBf16Baseline};
#ifdef SGEMM_X86
const Kernel kBf16Avx2{"emulated", "emulated bf16, 6x16 tile, x86-64-v3 AVX2/FMA", {MR6, NR16, 512, 96, 4096}, macroBf16Avx2, packABf16Avx2,
                       packBBf16Avx2};
const Kernel kBf16Avx512{"avx512_bf16", "avx512_bf16, 14x32 tile, vdpbf16ps", {MR14, NR32, 768, 14 * 24, 4096}, macroAvx512Bf16,
                         packAAvx512Bf16, packBAvx512Bf16};
#endif

bool supported(const Kernel* k) {
#ifdef SGEMM_X86
  if (k == &kAvx512) return __builtin_cpu_supports("avx512f");
  if (k == &kAvx2 || k == &kBf16Avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  // x86-64-v4 (F, BW, CD, DQ, VL: what the tile is compiled for) plus AVX512_BF16.
  if (k == &kBf16Avx512)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#endif
  return true;
}

// The bf16 tile: vdpbf16ps where the CPU has it (unless ALTCLIP_NATIVE_BF16=emulate), else the emulated one.
const Kernel* bf16Kernel(bool emulate) {
#ifdef SGEMM_X86
  if (!emulate && supported(&kBf16Avx512)) return &kBf16Avx512;
  if (supported(&kBf16Avx2)) return &kBf16Avx2;
#endif
  return &kBf16Baseline;
}

bool emulateByDefault() {
  const char* env = std::getenv("ALTCLIP_NATIVE_BF16");
  if (!env || !*env) return false;
  if (std::strcmp(env, "emulate") == 0) return true;
  std::fprintf(stderr, "@altclip/native: ALTCLIP_NATIVE_BF16=%s is unknown (only 'emulate' is); bf16 products use %s\n", env,
               bf16Kernel(false)->name);
  return false;
}

bool gBf16Forced = emulateByDefault();
const Kernel* gBf16Kernel = bf16Kernel(gBf16Forced);

const Kernel* findKernel(const char* name) {
  for (const Kernel* k : kKernels)
    if (std::strcmp(k->name, name) == 0) return k;
  return nullptr;
}

// The best supported path, or ALTCLIP_NATIVE_ISA's when it names one this CPU runs (else a warning, and the best).
const Kernel* initialKernel() {
  const Kernel* best = nullptr;
  for (const Kernel* k : kKernels)
    if (!best && supported(k)) best = k;
  const char* env = std::getenv("ALTCLIP_NATIVE_ISA");
  if (env && *env) {
    const Kernel* k = findKernel(env);
    if (k && supported(k)) return k;
    std::fprintf(stderr, "@altclip/native: ALTCLIP_NATIVE_ISA=%s is %s; the built-in SGEMM uses %s\n", env,
                 k ? "not supported by this CPU" : "unknown (avx512, avx2 or baseline)", best->name);
  }
  return best;
}

const Kernel* gKernel = initialKernel();

// Per-thread packing buffers, 64-byte aligned (the tile loads packed B with aligned loads).
struct AlignedBuffer {
  float* p = nullptr;
  size_t cap = 0;
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      cap = (n + 15) / 16 * 16;
      p = static_cast<float*>(std::aligned_alloc(64, cap * 4));
      if (!p) {
        cap = 0;
        throw std::bad_alloc();
      }
    }
    return p;
  }
  ~AlignedBuffer() { std::free(p); }
};

thread_local AlignedBuffer bufA, bufB;

// A small gemm with one K slice (attention's per-head products): one parallelFor, no barrier between packing and
// the tiles. The larger dimension is split into about two tasks per thread; each thread packs its tasks' panels of
// that operand and, once, all of the other one, into its own buffers.
void runSmall(const Kernel& kn, const GemmOperand& a, const GemmOperand& b, int M, int N, int K, float* c, int ldc, int threads) {
  const int MR = kn.g.mr, NR = kn.g.nr, panelsA = (M + MR - 1) / MR, panelsB = (N + NR - 1) / NR;
  const bool splitRows = panelsA >= panelsB;
  const int parts = splitRows ? panelsA : panelsB, tasks = std::min(parts, threads * 2);
  std::atomic<int> next{0};
  parallelFor((size_t)threads, 1, [&](size_t, size_t) {
    float* pa = bufA.get((size_t)panelsA * MR * K);
    float* pb = bufB.get((size_t)panelsB * NR * K);
    bool packedOther = false;
    for (int t; (t = next.fetch_add(1)) < tasks;) {
      const int s = (int)((long)t * parts / tasks), e = (int)((long)(t + 1) * parts / tasks);
      if (splitRows) {
        if (!packedOther) kn.packB(b, 0, N, 0, K, pb, 0, panelsB);
        kn.packA(a, M, 0, K, pa, s, e);
        kn.macro(K, pa, pb, c, ldc, M, N, s * MR, std::min(M, e * MR), 0, panelsB, true);
      } else {
        if (!packedOther) kn.packA(a, M, 0, K, pa, 0, panelsA);
        kn.packB(b, 0, N, 0, K, pb, s, e);
        kn.macro(K, pa, pb, c, ldc, M, N, 0, M, s, e, true);
      }
      packedOther = true;
    }
  });
}

// A (one MC row block) packed once for all K slices, then tasks of a few NR panels of B, each packing its own B
// panels slice by slice and accumulating its C tile over the whole K while the tile and the packed panel are still
// in cache. No barrier between K slices and no packed B slice larger than L1/L2. Used where A is small enough to
// keep packed whole (few rows: a linear layer on one image's or one sentence's tokens, the shapes of embedding).
constexpr size_t kSkinnyPackedA = (size_t)3 << 20;  // floats of packed A (12 MiB)

// One row block (measured: with two or more, the same speed as the sliced path below), packed whole within bounds.
bool skinny(const Kernel& kn, int M, int K) {
  const Geometry& g = kn.g;
  return M <= g.mc && (size_t)((M + g.mr - 1) / g.mr) * g.mr * ((K + g.kc - 1) / g.kc) * g.kc <= kSkinnyPackedA;
}

void runSkinny(const Kernel& kn, const GemmOperand& a, const GemmOperand& b, int M, int N, int K, float* c, int ldc, int threads) {
  const int MR = kn.g.mr, NR = kn.g.nr, KC = kn.g.kc;
  const int panelsA = (M + MR - 1) / MR, panelsB = (N + NR - 1) / NR, slices = (K + KC - 1) / KC;
  // Slice s of A starts at s * panelsA * MR * KC (the last slice is thinner but keeps the same start).
  const size_t sliceA = (size_t)panelsA * MR * KC;
  float* pa = bufA.get(sliceA * slices);
  std::atomic<int> next{0};
  const int packTasks = slices * panelsA;
  parallelFor((size_t)threads, 1, [&](size_t, size_t) {
    for (int t; (t = next.fetch_add(1)) < packTasks;) {
      const int s = t / panelsA, r = t % panelsA, k0 = s * KC;
      kn.packA(a, M, k0, std::min(KC, K - k0), pa + s * sliceA, r, r + 1);
    }
  });
  // About 8 tasks per thread (a preempted thread just takes fewer), at least one panel each, and at most 8 panels
  // so a task's packed B slice (8 x 48 KiB) stays in L2 between its packing and its use (a vocabulary-wide N).
  const int chunksN = std::min(panelsB, threads * 8);
  const int perChunk = std::min(8, (panelsB + chunksN - 1) / chunksN), tasks = (panelsB + perChunk - 1) / perChunk;
  next.store(0);
  parallelFor((size_t)threads, 1, [&](size_t, size_t) {
    float* pb = bufB.get((size_t)perChunk * NR * std::min(K, KC));
    for (int t; (t = next.fetch_add(1)) < tasks;) {
      const int p0 = t * perChunk, p1 = std::min(panelsB, p0 + perChunk);
      const int j0 = p0 * NR, nc = std::min(N, p1 * NR) - j0;
      for (int s = 0; s < slices; s++) {
        const int k0 = s * KC, kc = std::min(KC, K - k0);
        kn.packB(b, j0, nc, k0, kc, pb, 0, p1 - p0);
        kn.macro(kc, pa + s * sliceA, pb, c + j0, ldc, M, nc, 0, M, 0, p1 - p0, s == 0);
      }
    }
  });
}

void run(const Kernel& kn, const GemmOperand& a, const GemmOperand& b, int M, int N, int K, float* c, int ldc, bool parallel) {
  const int MR = kn.g.mr, NR = kn.g.nr, KC = kn.g.kc, MC = kn.g.mc, NC = kn.g.nc;
  // Below ~2 MFLOP a second thread costs more (wake-up, a preempted worker on a loaded machine) than it saves.
  const double mnk = (double)M * N * K;
  const bool par = parallel && poolThreads() > 1 && mnk >= 1e6;
  if (par && K <= KC && N <= NC && mnk <= (double)(1 << 24)) return runSmall(kn, a, b, M, N, K, c, ldc, poolThreads());
  const int panelsA = (M + MR - 1) / MR;
  if (skinny(kn, M, K)) return runSkinny(kn, a, b, M, N, K, c, ldc, par ? poolThreads() : 1);
  const int kcMax = std::min(K, KC), ncMax = std::min(N, NC);
  float* pa = bufA.get((size_t)panelsA * MR * kcMax);
  float* pb = bufB.get((size_t)((ncMax + NR - 1) / NR) * NR * kcMax);
  const int blocksM = (M + MC - 1) / MC;
  for (int j0 = 0; j0 < N; j0 += NC) {
    const int nc = std::min(NC, N - j0), panelsB = (nc + NR - 1) / NR;
    for (int k0 = 0; k0 < K; k0 += KC) {
      const int kc = std::min(KC, K - k0);
      const bool first = k0 == 0;
      float* cj = c + j0;
      if (!par) {
        kn.packB(b, j0, nc, k0, kc, pb, 0, panelsB);
        kn.packA(a, M, k0, kc, pa, 0, panelsA);
        for (int i = 0; i < M; i += MC) kn.macro(kc, pa, pb, cj, ldc, M, nc, i, std::min(M, i + MC), 0, panelsB, first);
        continue;
      }
      // Both phases hand out small tasks from a shared counter, one parallelFor chunk per thread: a thread that
      // is preempted (other processes share the machine) just takes fewer tasks.
      const int threads = poolThreads();
      std::atomic<int> next{0};
      const int packTasks = panelsB + panelsA;
      parallelFor((size_t)threads, 1, [&](size_t, size_t) {
        for (int t; (t = next.fetch_add(1)) < packTasks;) {
          if (t < panelsB) kn.packB(b, j0, nc, k0, kc, pb, t, t + 1);
          else kn.packA(a, M, k0, kc, pa, t - panelsB, t - panelsB + 1);
        }
      });
      // Tiles: MC row blocks x chunks of NR-panels, about 24 per thread: the threads wait for each other at the end
      // of each phase, for half a task on average (profiled: 8 per thread spent 1.5x as long spinning).
      const int chunksN = std::max(1, std::min(panelsB, (threads * 24 + blocksM - 1) / blocksM));
      const int perChunk = (panelsB + chunksN - 1) / chunksN, tasks = blocksM * ((panelsB + perChunk - 1) / perChunk);
      const int chunks = tasks / blocksM;
      next.store(0);
      parallelFor((size_t)threads, 1, [&](size_t, size_t) {
        for (int t; (t = next.fetch_add(1)) < tasks;) {
          const int bi = t / chunks, p0 = (t % chunks) * perChunk, p1 = std::min(panelsB, p0 + perChunk);
          kn.macro(kc, pa, pb, cj, ldc, M, nc, bi * MC, std::min(M, bi * MC + MC), p0, p1, first);
        }
      });
    }
  }
}

}  // namespace

void gemmBuiltin(const GemmOperand& a, const GemmOperand& b, int M, int N, int K, float* c, int ldc, bool bf16Compute, bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int i = 0; i < M; i++) std::memset(c + (size_t)i * ldc, 0, (size_t)N * 4);
    return;
  }
  run(bf16Compute ? *gBf16Kernel : *gKernel, a, b, M, N, K, c, ldc, parallel);
}

void sgemmBuiltin(bool transA, bool transB, int M, int N, int K, const float* a, int lda, const float* b, int ldb, float* c, int ldc,
                  bool parallel) {
  gemmBuiltin({a, lda, transA, false}, {b, ldb, transB, false}, M, N, K, c, ldc, false, parallel);
}

const char* bf16GemmIsa() { return gBf16Kernel->name; }
bool bf16Native() {
#ifdef SGEMM_X86
  return supported(&kBf16Avx512);
#else
  return false;
#endif
}
void setBf16Emulation(bool on) {
  gBf16Forced = on;
  gBf16Kernel = bf16Kernel(on);
}
bool bf16EmulationForced() { return gBf16Forced; }

void toBf16(const float* x, uint16_t* out, size_t n) {
  parallelFor(n, (size_t)1 << 20, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) out[i] = bf16Bits(x[i]);
  });
}
void fromBf16(const uint16_t* x, float* out, size_t n) {
  parallelFor(n, (size_t)1 << 20, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) out[i] = asFloat(x[i]);
  });
}

const char* sgemmIsa() { return gKernel->name; }
const char* sgemmIsaDescription() { return gKernel->description; }

bool sgemmIsaSupported(const char* isa) {
  const Kernel* k = findKernel(isa);
  return k && supported(k);
}

const char* gemmModeName(GemmMode mode) { return mode == GemmMode::Builtin ? "builtin" : mode == GemmMode::OpenBlas ? "openblas" : "auto"; }

bool parseGemmMode(const char* name, GemmMode* mode) {
  for (GemmMode m : {GemmMode::Auto, GemmMode::Builtin, GemmMode::OpenBlas}) {
    if (std::strcmp(name, gemmModeName(m)) == 0) {
      *mode = m;
      return true;
    }
  }
  return false;
}

GemmMode gemmModeByDefault() {
  const char* gemm = std::getenv("ALTCLIP_NATIVE_GEMM");
  if (gemm && *gemm) {
    GemmMode mode = GemmMode::Auto;
    if (!parseGemmMode(gemm, &mode))
      std::fprintf(stderr, "@altclip/native: ALTCLIP_NATIVE_GEMM=%s is unknown (auto, builtin or openblas); using auto\n", gemm);
    return mode;
  }
  const char* isa = std::getenv("ALTCLIP_NATIVE_ISA");
  return isa && *isa && sgemmIsaSupported(isa) ? GemmMode::Builtin : GemmMode::Auto;
}

// Under this many rows OpenBLAS's gemv-like kernels are as good or better than the skinny path.
constexpr int kAutoMinRows = 8;

// Only the AVX-512 tile beats OpenBLAS (`npm run bench -- gemm`: the AVX2 tile reaches 60-70% of it).
bool autoUsesBuiltin() {
#ifdef SGEMM_X86
  return gKernel == &kAvx512;
#else
  return false;
#endif
}

bool builtinWins(int M, int K, bool batchedSmall) {
  if (!autoUsesBuiltin()) return false;
  if (batchedSmall) return true;  // attention's per-head products: 1.0-1.3x OpenBLAS
  // Skinny products (a linear layer over one image's or one sentence's tokens): 1.1-1.5x OpenBLAS.
  return M >= kAutoMinRows && skinny(*gKernel, M, K);
}

const char* autoBuiltinShapes() {
  static char text[96];
  if (!autoUsesBuiltin()) return "";
  std::snprintf(text, sizeof text, "%d-%d-row and per-head products", kAutoMinRows, gKernel->g.mc);
  return text;
}

bool setSgemmIsa(const char* isa) {
  const Kernel* k = findKernel(isa);
  if (!k || !supported(k)) return false;
  gKernel = k;
  return true;
}

}  // namespace altclip
