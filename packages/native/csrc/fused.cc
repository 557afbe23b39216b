#include "fused.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "fused_vec.h"
#include "pool.h"
#include "sgemm.h"

// Compiled three times (x86-64-v4: AVX-512, x86-64-v3: AVX2+FMA, baseline) and picked at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FUSED_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FUSED_CLONES
#endif

namespace altclip {
namespace {

using namespace fvec;

// Rows per parallel chunk: about this many elements, so short rows are not split into tiny tasks.
constexpr size_t kRowGrainElems = 1 << 15;
size_t rowGrain(size_t cols) { return std::max<size_t>(1, kRowGrainElems / std::max<size_t>(cols, 1)); }

// Reductions over rows (dgamma/dbeta/dbias) go through a fixed number of partial sums, independent of the
// thread count, so results do not change with ALTCLIP_NATIVE_THREADS.
constexpr size_t kPartials = 32;

FV_INLINE float sumRow(const float* x, size_t n) {
  v8f acc = splat(0);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) acc += load8(x + i);
  if (i < n) acc += loadTail(x + i, n - i, 0);
  return hsum(acc);
}

FV_INLINE float maxRow(const float* x, size_t n) {
  v8f acc = splat(-INFINITY);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f v = load8(x + i);
    acc = v > acc ? v : acc;
  }
  if (i < n) {
    v8f v = loadTail(x + i, n - i, -INFINITY);
    acc = v > acc ? v : acc;
  }
  return hmax(acc);
}

// ------------------------------------------------------------------------------------------------ LayerNorm

FUSED_CLONES void layerNormRows(const float* __restrict x, const float* __restrict g, const float* __restrict b, float* __restrict y,
                                float* __restrict mean, float* __restrict rstd, size_t r0, size_t r1, size_t D, float eps) {
  const float invD = 1.0f / (float)D;
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    // Two passes (mean, then the centred sum of squares), as the composed ops: no cancellation for large means.
    const float mu = sumRow(xr, D) * invD;
    v8f acc = splat(0);
    size_t j = 0;
    for (; j + 8 <= D; j += 8) {
      v8f c = load8(xr + j) - mu;
      acc += c * c;
    }
    float ss = hsum(acc);
    for (; j < D; j++) ss += (xr[j] - mu) * (xr[j] - mu);
    const float rs = 1.0f / std::sqrt(ss * invD + eps);
    for (j = 0; j < D; j++) yr[j] = (xr[j] - mu) * rs * g[j] + b[j];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

// dx rows [r0, r1) and this chunk's dgamma/dbeta partials (pg, pb, D each, overwritten).
FUSED_CLONES void layerNormGradRows(const float* __restrict dy, const float* __restrict x, const float* __restrict g,
                                    const float* __restrict mean, const float* __restrict rstd, float* __restrict dx, float* __restrict pg,
                                    float* __restrict pb, size_t r0, size_t r1, size_t D) {
  std::memset(pg, 0, D * 4);
  std::memset(pb, 0, D * 4);
  const float invD = 1.0f / (float)D;
  for (size_t r = r0; r < r1; r++) {
    const float* dyr = dy + r * D;
    const float* xr = x + r * D;
    float* dxr = dx + r * D;
    const float mu = mean[r], rs = rstd[r];
    // a = mean(dy*g), c = mean(dy*g*xhat); dx = rs * (dy*g - a - xhat*c)
    v8f va = splat(0), vc = splat(0);
    size_t j = 0;
    for (; j + 8 <= D; j += 8) {
      const v8f d8 = load8(dyr + j), xh = (load8(xr + j) - mu) * rs, gy = d8 * load8(g + j);
      va += gy;
      vc += gy * xh;
      store8(pg + j, load8(pg + j) + d8 * xh);
      store8(pb + j, load8(pb + j) + d8);
    }
    float a = hsum(va), c = hsum(vc);
    for (; j < D; j++) {
      float xh = (xr[j] - mu) * rs, gy = dyr[j] * g[j];
      a += gy;
      c += gy * xh;
      pg[j] += dyr[j] * xh;
      pb[j] += dyr[j];
    }
    a *= invD;
    c *= invD;
    for (size_t j = 0; j < D; j++) {
      float xh = (xr[j] - mu) * rs;
      dxr[j] = rs * (dyr[j] * g[j] - a - xh * c);
    }
  }
}

// out[j] = sum_p parts[p * n + j]
FUSED_CLONES void sumPartials(const float* __restrict parts, size_t count, size_t n, float* __restrict out) {
  std::memcpy(out, parts, n * 4);
  for (size_t p = 1; p < count; p++)
    for (size_t j = 0; j < n; j++) out[j] += parts[p * n + j];
}

// Runs fn(chunk, r0, r1) over min(rows, kPartials) fixed row chunks, in parallel.
template <typename F>
void overPartials(size_t rows, F fn) {
  const size_t chunks = std::min(rows, kPartials);
  parallelFor(chunks, 1, [&](size_t c0, size_t c1) {
    for (size_t c = c0; c < c1; c++) fn(c, rows * c / chunks, rows * (c + 1) / chunks);
  });
}

// ------------------------------------------------------------------------------------------------ bias + act

constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kQuick = 1.702f;

template <int Act>
FV_INLINE v8f actV(v8f u) {
  if (Act == kGeluErf) return 0.5f * u * (1.0f + erfV(u * kSqrtHalf));
  return u * sigmoidV(kQuick * u);
}

// d act(u) / du
template <int Act>
FV_INLINE v8f actGradV(v8f u) {
  if (Act == kGeluErf) return 0.5f * (1.0f + erfV(u * kSqrtHalf)) + u * kInvSqrt2Pi * expV(-0.5f * u * u);
  v8f s = sigmoidV(kQuick * u);
  return s + kQuick * u * s * (1.0f - s);
}

template <int Act>
FV_INLINE void biasActRow(const float* x, const float* b, float* y, size_t n) {
  size_t j = 0;
  for (; j + 8 <= n; j += 8) store8(y + j, actV<Act>(load8(x + j) + load8(b + j)));
  if (j < n) storeTail(y + j, actV<Act>(loadTail(x + j, n - j, 0) + loadTail(b + j, n - j, 0)), n - j);
}

template <int Act>
FV_INLINE void biasActGradRow(const float* dy, const float* x, const float* b, float* dx, float* pb, size_t n) {
  size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    v8f d = load8(dy + j) * actGradV<Act>(load8(x + j) + load8(b + j));
    store8(dx + j, d);
    store8(pb + j, load8(pb + j) + d);
  }
  if (j < n) {
    const size_t t = n - j;
    v8f d = loadTail(dy + j, t, 0) * actGradV<Act>(loadTail(x + j, t, 0) + loadTail(b + j, t, 0));
    storeTail(dx + j, d, t);
    storeTail(pb + j, loadTail(pb + j, t, 0) + d, t);
  }
}

FUSED_CLONES void biasActRows(int act, const float* x, const float* b, float* y, size_t r0, size_t r1, size_t N) {
  for (size_t r = r0; r < r1; r++) {
    if (act == kGeluErf) biasActRow<kGeluErf>(x + r * N, b, y + r * N, N);
    else biasActRow<kQuickGelu>(x + r * N, b, y + r * N, N);
  }
}

FUSED_CLONES void biasActGradRows(int act, const float* dy, const float* x, const float* b, float* dx, float* pb, size_t r0, size_t r1,
                                  size_t N) {
  std::memset(pb, 0, N * 4);
  for (size_t r = r0; r < r1; r++) {
    if (act == kGeluErf) biasActGradRow<kGeluErf>(dy + r * N, x + r * N, b, dx + r * N, pb, N);
    else biasActGradRow<kQuickGelu>(dy + r * N, x + r * N, b, dx + r * N, pb, N);
  }
}

// ------------------------------------------------------------------------------------------------ softmax

// s[j] = s[j] * scale + m[j] (m may be null), then s = exp(s - max) / sum in place. Returns nothing; used by the
// masked softmax. (The attention kernels do their own row passes: they need the max and sum kept.)
FV_INLINE void scaleMaskRow(float* s, const float* m, size_t n, float scale) {
  if (m)
    for (size_t j = 0; j < n; j++) s[j] = s[j] * scale + m[j];
  else if (scale != 1.0f)
    for (size_t j = 0; j < n; j++) s[j] *= scale;
}

// p[j] = exp(s[j] - mx) for j < n; returns their sum.
FV_INLINE float expRow(const float* s, float* p, size_t n, float mx) {
  v8f acc = splat(0);
  size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    v8f e = expV(load8(s + j) - mx);
    store8(p + j, e);
    acc += e;
  }
  if (j < n) {
    v8f e = expV(loadTail(s + j, n - j, -INFINITY) - mx);
    storeTail(p + j, e, n - j);
    acc += e;
  }
  return hsum(acc);
}

FUSED_CLONES void softmaxMaskRows(const float* x, MaskView mask, float* y, size_t r0, size_t r1, size_t H, size_t Lq, size_t Lk,
                                  float scale) {
  for (size_t r = r0; r < r1; r++) {
    const size_t i = r % Lq, h = (r / Lq) % H, b = r / (Lq * H);
    float* yr = y + r * Lk;
    std::memcpy(yr, x + r * Lk, Lk * 4);
    scaleMaskRow(yr, mask.p ? mask.p + b * mask.sb + h * mask.sh + i * mask.sq : nullptr, Lk, scale);
    const float mx = maxRow(yr, Lk);
    const float inv = 1.0f / expRow(yr, yr, Lk, mx);
    for (size_t j = 0; j < Lk; j++) yr[j] *= inv;
  }
}

FUSED_CLONES void softmaxGradRows(const float* dy, const float* y, float* dx, size_t r0, size_t r1, size_t cols, float scale) {
  for (size_t r = r0; r < r1; r++) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    v8f acc = splat(0);
    size_t j = 0;
    for (; j + 8 <= cols; j += 8) acc += load8(dyr + j) * load8(yr + j);
    float dot = hsum(acc);
    for (; j < cols; j++) dot += dyr[j] * yr[j];
    for (j = 0; j < cols; j++) dxr[j] = scale * yr[j] * (dyr[j] - dot);
  }
}

// ------------------------------------------------------------------------------------------------ attention

// Tile sizes: BR query rows x BC keys. A BC x d tile of K/V (16 KiB at d = 64) and the BR x BC scores stay in L1/L2.
constexpr size_t BR = 64, BC = 64;

// C[i*ldc + j] (+)= sum_k A[i*ai + k*ak] * B[k*ldb + j] for R rows; j vectorised along B's contiguous rows.
template <int R>
FV_INLINE void gemmRows(size_t N, size_t K, const float* A, size_t ai, size_t ak, const float* B, size_t ldb, float* C, size_t ldc,
                        bool acc) {
  size_t j = 0;
  for (; j + 16 <= N; j += 16) {
    v8f c0[R], c1[R];
    for (int r = 0; r < R; r++) c0[r] = c1[r] = splat(0);
    for (size_t k = 0; k < K; k++) {
      const v8f b0 = load8(B + k * ldb + j), b1 = load8(B + k * ldb + j + 8);
      for (int r = 0; r < R; r++) {
        const v8f a = splat(A[r * ai + k * ak]);
        c0[r] += a * b0;
        c1[r] += a * b1;
      }
    }
    for (int r = 0; r < R; r++) {
      float* cr = C + r * ldc + j;
      store8(cr, acc ? load8(cr) + c0[r] : c0[r]);
      store8(cr + 8, acc ? load8(cr + 8) + c1[r] : c1[r]);
    }
  }
  for (; j + 8 <= N; j += 8) {
    v8f c0[R];
    for (int r = 0; r < R; r++) c0[r] = splat(0);
    for (size_t k = 0; k < K; k++) {
      const v8f b0 = load8(B + k * ldb + j);
      for (int r = 0; r < R; r++) c0[r] += splat(A[r * ai + k * ak]) * b0;
    }
    for (int r = 0; r < R; r++) store8(C + r * ldc + j, acc ? load8(C + r * ldc + j) + c0[r] : c0[r]);
  }
  for (; j < N; j++) {
    for (int r = 0; r < R; r++) {
      float s = 0;
      for (size_t k = 0; k < K; k++) s += A[r * ai + k * ak] * B[k * ldb + j];
      C[r * ldc + j] = acc ? C[r * ldc + j] + s : s;
    }
  }
}

// C [M, N] (+)= A [M, K] B [K, N] with A given by element strides (so a transposed A costs nothing).
FV_INLINE void smallGemm(size_t M, size_t N, size_t K, const float* A, size_t ai, size_t ak, const float* B, size_t ldb, float* C, size_t ldc,
                         bool acc) {
  size_t i = 0;
  for (; i + 4 <= M; i += 4) gemmRows<4>(N, K, A + i * ai, ai, ak, B, ldb, C + i * ldc, ldc, acc);
  for (; i < M; i++) gemmRows<1>(N, K, A + i * ai, ai, ak, B, ldb, C + i * ldc, ldc, acc);
}

// dst[c * BC + j] = src[j * ld + c] for j < n, c < d; columns [n, np) zeroed (np: n rounded up to 8).
FV_INLINE void packTransposed(const float* src, size_t ld, size_t n, size_t np, size_t d, float* dst) {
  for (size_t c = 0; c < d; c++) {
    float* row = dst + c * BC;
    for (size_t j = 0; j < n; j++) row[j] = src[j * ld + c];
    for (size_t j = n; j < np; j++) row[j] = 0;
  }
}

inline size_t roundUp8(size_t n) { return (n + 7) & ~(size_t)7; }

// dsum = sum_c dout_c out_c over one row of a head (= sum_j P_ij dP_ij), the softmax backward's row term.
FV_INLINE float attentionRowTerm(const float* out, const float* dout, size_t d) {
  float s = 0;
  for (size_t c = 0; c < d; c++) s += out[c] * dout[c];
  return s;
}

inline const float* maskRow(const MaskView& m, size_t b, size_t h, size_t i) { return m.p ? m.p + b * m.sb + h * m.sh + i * m.sq : nullptr; }

struct AttnScratch {
  std::vector<float> kt, vt, s, dp, acc, dk, dv, m, l, dsum;
};
AttnScratch& scratch() {
  thread_local AttnScratch t;
  return t;
}

// Rows [i0, i0 + br) of head h of batch b: the online softmax over key tiles.
FUSED_CLONES void attentionTile(const float* q, const float* k, const float* v, MaskView mask, float* out, float* stats, AttentionShape sh,
                                float scale, size_t b, size_t h, size_t i0, size_t br) {
  const size_t d = sh.d, D = sh.H * d;
  AttnScratch& t = scratch();
  t.kt.resize(d * BC);
  t.s.resize(BR * BC);
  t.acc.assign(br * d, 0.0f);
  t.m.assign(br, -FLT_MAX);
  t.l.assign(br, 0.0f);
  const float* Q = q + (b * sh.Lq + i0) * D + h * d;
  for (size_t j0 = 0; j0 < sh.Lk; j0 += BC) {
    const size_t bc = std::min(BC, sh.Lk - j0), bcp = roundUp8(bc);
    const float* K = k + (b * sh.Lk + j0) * D + h * d;
    const float* V = v + (b * sh.Lk + j0) * D + h * d;
    packTransposed(K, D, bc, bcp, d, t.kt.data());
    smallGemm(br, bcp, d, Q, D, 1, t.kt.data(), BC, t.s.data(), BC, false);
    for (size_t r = 0; r < br; r++) {
      float* s = t.s.data() + r * BC;
      const float* mr = maskRow(mask, b, h, i0 + r);
      scaleMaskRow(s, mr ? mr + j0 : nullptr, bc, scale);
      // m starts at -FLT_MAX (not -inf) so exp(m_old - m_new) never sees inf - inf.
      const float mNew = std::max(t.m[r], maxRow(s, bc));
      const float corr = std::exp(t.m[r] - mNew);
      const float rowSum = expRow(s, s, bc, mNew);
      t.l[r] = t.l[r] * corr + rowSum;
      t.m[r] = mNew;
      if (corr != 1.0f) {
        float* a = t.acc.data() + r * d;
        for (size_t c = 0; c < d; c++) a[c] *= corr;
      }
    }
    smallGemm(br, d, bc, t.s.data(), BC, 1, V, D, t.acc.data(), d, true);
  }
  for (size_t r = 0; r < br; r++) {
    const float inv = 1.0f / t.l[r];
    float* o = out + (b * sh.Lq + i0 + r) * D + h * d;
    const float* a = t.acc.data() + r * d;
    for (size_t c = 0; c < d; c++) o[c] = a[c] * inv;
    // (max, 1/sum) rather than logsumexp: a fully masked row has max finfo.min, where max + log(sum) rounds back
    // to the max and the rebuilt probabilities would be 1 instead of 1/Lk.
    float* st = stats + ((b * sh.H + h) * sh.Lq + i0 + r) * 2;
    st[0] = t.m[r];
    st[1] = inv;
  }
}

// Whole rows of scores instead of key tiles while a head's [Lq, Lk] scores are at most this many floats (4 MiB):
// the products then run on the built-in SGEMM's register tile (csrc/sgemm.cc, 2-3x the tile loops above) and the
// softmax is exact in one pass. Longer sequences take the flash-style key tiles, which never hold [Lq, Lk].
size_t gFullRowScores = (size_t)1 << 20;

bool fullRows(const AttentionShape& sh) { return sh.Lq * sh.Lk <= gFullRowScores; }

inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Whether `sh` asks for dropout on the probabilities (hashed or keyed mask).
bool drops(const AttentionShape& sh) { return sh.dropRate24 || sh.keyed; }

// Keyed attention dropout on row i of head h of batch b (AttentionShape::keyed).
FV_INLINE void keyedDropRow(float* p, const AttentionShape& sh, size_t b, size_t h, size_t i) {
  const KeyedDropout& k = *sh.keyed;
  const size_t group = sh.B / k.n, idx[3] = {b % group, h, i};
  const uint32_t seed = keyedRunSeed(k, b / group, idx, 3);
  for (size_t j = 0; j < sh.Lk; j++) p[j] = keyedKeep(k, seed, j) ? p[j] * k.scale : 0.0f;
}

// Attention dropout on row i of head h of batch b: p[j] *= keep(j) / (1 - rate), the mask a function of
// (seed, b, h, i, j) only (or of the keys, keyed), so the backward pass rebuilds it.
FV_INLINE void dropRow(float* p, const AttentionShape& sh, size_t b, size_t h, size_t i) {
  if (sh.keyed) return keyedDropRow(p, sh, b, h, i);
  const uint64_t key = ((uint64_t)sh.dropSeed << 40) + ((b * sh.H + h) * sh.Lq + i) * sh.Lk;
  const float scale = 16777216.0f / (float)(16777216u - sh.dropRate24);
  for (size_t j = 0; j < sh.Lk; j++) p[j] = (splitmix64(key + j) >> 40) >= sh.dropRate24 ? p[j] * scale : 0.0f;
}

// One product of the whole-row paths on the pool thread that runs it, float32 or bf16 products.
FV_INLINE void rowGemm(bool bf16, bool transA, bool transB, int M, int N, int K, const float* a, int lda, const float* b, int ldb, float* c,
                       int ldc, bool parallel) {
  gemmBuiltin({a, lda, transA, false}, {b, ldb, transB, false}, M, N, K, c, ldc, bf16, parallel);
}

// Rows [i0, i0 + br) of head h of batch b with whole score rows: S = Q K^T, P = softmax(S * scale + mask), O = P V.
FUSED_CLONES void attentionRows(const float* q, const float* k, const float* v, MaskView mask, float* out, float* stats, AttentionShape sh,
                                float scale, size_t b, size_t h, size_t i0, size_t br) {
  const size_t d = sh.d, D = sh.H * d, Lk = sh.Lk;
  AttnScratch& t = scratch();
  t.s.resize(br * Lk);
  float* S = t.s.data();
  const float* Q = q + (b * sh.Lq + i0) * D + h * d;
  const float* K = k + b * Lk * D + h * d;
  const float* V = v + b * Lk * D + h * d;
  float* O = out + (b * sh.Lq + i0) * D + h * d;
  rowGemm(sh.bf16, false, true, (int)br, (int)Lk, (int)d, Q, (int)D, K, (int)D, S, (int)Lk, false);
  float* st = stats + ((b * sh.H + h) * sh.Lq + i0) * 2;
  for (size_t r = 0; r < br; r++) {
    float* sr = S + r * Lk;
    scaleMaskRow(sr, maskRow(mask, b, h, i0 + r), Lk, scale);
    const float mx = maxRow(sr, Lk);
    st[2 * r] = mx;
    st[2 * r + 1] = 1.0f / expRow(sr, sr, Lk, mx);
    if (drops(sh)) dropRow(sr, sh, b, h, i0 + r);  // the sum above is of the undropped probabilities, as in torch
  }
  rowGemm(sh.bf16, false, false, (int)br, (int)d, (int)Lk, S, (int)Lk, V, (int)D, O, (int)D, false);
  for (size_t r = 0; r < br; r++) {
    const float inv = st[2 * r + 1];
    float* o = O + r * D;
    for (size_t c = 0; c < d; c++) o[c] *= inv;
  }
}

// Every gradient of head h of batch b with whole score rows (as attentionRows): P rebuilt from the stats, then
// dV = P^T dO, dP = dO V^T, dS = scale * P * (dP - dsum), dQ = dS K, dK = dS^T Q, each one SGEMM call.
FUSED_CLONES void attentionGradRows(const float* dout, const float* q, const float* k, const float* v, MaskView mask, const float* out,
                                    const float* stats, float* dq, float* dk, float* dv, AttentionShape sh, float scale, size_t b, size_t h) {
  const size_t d = sh.d, D = sh.H * d, Lq = sh.Lq, Lk = sh.Lk;
  AttnScratch& t = scratch();
  t.s.resize(Lq * Lk);
  t.dp.resize(Lq * Lk);
  float* P = t.s.data();
  float* dP = t.dp.data();
  const size_t base = b * Lq * D + h * d, kbase = b * Lk * D + h * d;
  const float* Q = q + base;
  const float* G = dout + base;
  const float* K = k + kbase;
  const float* V = v + kbase;
  const float* st = stats + (b * sh.H + h) * Lq * 2;
  rowGemm(sh.bf16, false, true, (int)Lq, (int)Lk, (int)d, Q, (int)D, K, (int)D, P, (int)Lk, false);
  rowGemm(sh.bf16, false, true, (int)Lq, (int)Lk, (int)d, G, (int)D, V, (int)D, dP, (int)Lk, false);
  for (size_t i = 0; i < Lq; i++) {
    float* p = P + i * Lk;
    float* ds = dP + i * Lk;
    scaleMaskRow(p, maskRow(mask, b, h, i), Lk, scale);
    const float mx = st[2 * i], inv = st[2 * i + 1];
    expRow(p, p, Lk, mx);
    // With dropout, O = (P * M) V, so dO . O = sum_j P_ij (dP * M)_ij still gives the softmax term; dP (here ds)
    // takes the mask before it, and P takes it after (dV = (P * M)^T dO).
    const float dsum = attentionRowTerm(out + base + i * D, G + i * D, d);
    if (drops(sh)) dropRow(ds, sh, b, h, i);
    for (size_t j = 0; j < Lk; j++) {
      p[j] *= inv;
      ds[j] = scale * p[j] * (ds[j] - dsum);
    }
    if (drops(sh)) dropRow(p, sh, b, h, i);
  }
  rowGemm(sh.bf16, true, false, (int)Lk, (int)d, (int)Lq, P, (int)Lk, G, (int)D, dv + kbase, (int)D, false);   // dV = P^T dO
  rowGemm(sh.bf16, false, false, (int)Lq, (int)d, (int)Lk, dP, (int)Lk, K, (int)D, dq + base, (int)D, false);  // dQ = dS K
  rowGemm(sh.bf16, true, false, (int)Lk, (int)d, (int)Lq, dP, (int)Lk, Q, (int)D, dk + kbase, (int)D, false);  // dK = dS^T Q
}

// Every gradient of head h of batch b (dq rows of this head are owned by this call, as are dk/dv's).
FUSED_CLONES void attentionGradHead(const float* dout, const float* q, const float* k, const float* v, MaskView mask, const float* out,
                                    const float* stats, float* dq, float* dk, float* dv, AttentionShape sh, float scale, size_t b, size_t h) {
  const size_t d = sh.d, D = sh.H * d, Lq = sh.Lq, Lk = sh.Lk;
  AttnScratch& t = scratch();
  t.kt.resize(d * BC);
  t.vt.resize(d * BC);
  t.s.resize(BR * BC);
  t.dp.resize(BR * BC);
  t.dk.resize(BC * d);
  t.dv.resize(BC * d);
  t.dsum.resize(Lq);
  const size_t base = b * Lq * D + h * d, kbase = b * Lk * D + h * d;
  const float* st = stats + (b * sh.H + h) * Lq * 2;
  for (size_t i = 0; i < Lq; i++) {
    t.dsum[i] = attentionRowTerm(out + base + i * D, dout + base + i * D, d);
    std::memset(dq + base + i * D, 0, d * 4);
  }
  for (size_t j0 = 0; j0 < Lk; j0 += BC) {
    const size_t bc = std::min(BC, Lk - j0), bcp = roundUp8(bc);
    const float* K = k + kbase + j0 * D;
    const float* V = v + kbase + j0 * D;
    packTransposed(K, D, bc, bcp, d, t.kt.data());
    packTransposed(V, D, bc, bcp, d, t.vt.data());
    std::fill(t.dk.begin(), t.dk.end(), 0.0f);
    std::fill(t.dv.begin(), t.dv.end(), 0.0f);
    for (size_t i0 = 0; i0 < Lq; i0 += BR) {
      const size_t br = std::min(BR, Lq - i0);
      const float* Q = q + base + i0 * D;
      const float* G = dout + base + i0 * D;
      float* P = t.s.data();
      float* dS = t.dp.data();
      smallGemm(br, bcp, d, Q, D, 1, t.kt.data(), BC, P, BC, false);
      for (size_t r = 0; r < br; r++) {
        float* p = P + r * BC;
        const float* mr = maskRow(mask, b, h, i0 + r);
        scaleMaskRow(p, mr ? mr + j0 : nullptr, bc, scale);
        const float mx = st[(i0 + r) * 2], inv = st[(i0 + r) * 2 + 1];
        expRow(p, p, bc, mx);
        for (size_t j = 0; j < bc; j++) p[j] *= inv;
        for (size_t j = bc; j < bcp; j++) p[j] = 0;
      }
      smallGemm(bc, d, br, P, 1, BC, G, D, t.dv.data(), d, true);         // dV += P^T dO
      smallGemm(br, bcp, d, G, D, 1, t.vt.data(), BC, dS, BC, false);     // dP = dO V^T
      for (size_t r = 0; r < br; r++) {
        float* ds = dS + r * BC;
        const float* p = P + r * BC;
        const float dr = t.dsum[i0 + r];
        for (size_t j = 0; j < bcp; j++) ds[j] = scale * p[j] * (ds[j] - dr);  // dS = scale * P (dP - dsum)
      }
      smallGemm(br, d, bc, dS, BC, 1, K, D, dq + base + i0 * D, D, true);  // dQ += dS K
      smallGemm(bc, d, br, dS, 1, BC, Q, D, t.dk.data(), d, true);         // dK += dS^T Q
    }
    for (size_t j = 0; j < bc; j++) {
      std::memcpy(dk + kbase + (j0 + j) * D, t.dk.data() + j * d, d * 4);
      std::memcpy(dv + kbase + (j0 + j) * D, t.dv.data() + j * d, d * 4);
    }
  }
}

}  // namespace

void layerNorm(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, size_t rows, size_t D,
               float eps) {
  parallelFor(rows, rowGrain(D), [&](size_t r0, size_t r1) { layerNormRows(x, gamma, beta, y, mean, rstd, r0, r1, D, eps); });
}

void layerNormGrad(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, float* dgamma,
                   float* dbeta, size_t rows, size_t D) {
  std::vector<float> parts(std::min(rows, kPartials) * 2 * D);
  overPartials(rows, [&](size_t c, size_t r0, size_t r1) {
    float* pg = parts.data() + c * 2 * D;
    layerNormGradRows(dy, x, gamma, mean, rstd, dx, pg, pg + D, r0, r1, D);
  });
  const size_t chunks = std::min(rows, kPartials);
  // partials are interleaved [chunk][gamma D | beta D]: sum each half with stride 2D
  std::fill(dgamma, dgamma + D, 0.0f);
  std::fill(dbeta, dbeta + D, 0.0f);
  for (size_t c = 0; c < chunks; c++) {
    const float* pg = parts.data() + c * 2 * D;
    for (size_t j = 0; j < D; j++) {
      dgamma[j] += pg[j];
      dbeta[j] += pg[D + j];
    }
  }
}

void biasAct(int act, const float* x, const float* bias, float* y, size_t rows, size_t N) {
  parallelFor(rows, std::max<size_t>(1, rowGrain(N) / 4), [&](size_t r0, size_t r1) { biasActRows(act, x, bias, y, r0, r1, N); });
}

void biasActGrad(int act, const float* dy, const float* x, const float* bias, float* dx, float* dbias, size_t rows, size_t N) {
  const size_t chunks = std::min(rows, kPartials);
  std::vector<float> parts(chunks * N);
  overPartials(rows, [&](size_t c, size_t r0, size_t r1) { biasActGradRows(act, dy, x, bias, dx, parts.data() + c * N, r0, r1, N); });
  sumPartials(parts.data(), chunks, N, dbias);
}

void softmaxMask(const float* x, MaskView mask, float* y, size_t B, size_t H, size_t Lq, size_t Lk, float scale) {
  parallelFor(B * H * Lq, std::max<size_t>(1, rowGrain(Lk) / 4),
              [&](size_t r0, size_t r1) { softmaxMaskRows(x, mask, y, r0, r1, H, Lq, Lk, scale); });
}

void softmaxMaskGrad(const float* dy, const float* y, float* dx, size_t rows, size_t cols, float scale) {
  parallelFor(rows, rowGrain(cols), [&](size_t r0, size_t r1) { softmaxGradRows(dy, y, dx, r0, r1, cols, scale); });
}

bool attentionDropoutFits(const AttentionShape& s) { return !drops(s) || fullRows(s); }

void attention(const float* q, const float* k, const float* v, MaskView mask, float* out, float* stats, AttentionShape s, float scale) {
  if (fullRows(s)) {
    // Row blocks of about BR rows, evenly sized (257 rows: 5 x 52, not 4 x 64 + 1).
    const size_t blocks = (s.Lq + BR - 1) / BR, rows = (s.Lq + blocks - 1) / blocks;
    parallelFor(s.B * s.H * blocks, 1, [&](size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; t++) {
        const size_t blk = t % blocks, bh = t / blocks, i0 = blk * rows;
        if (i0 < s.Lq) attentionRows(q, k, v, mask, out, stats, s, scale, bh / s.H, bh % s.H, i0, std::min(rows, s.Lq - i0));
      }
    });
    return;
  }
  const size_t tiles = (s.Lq + BR - 1) / BR;
  parallelFor(s.B * s.H * tiles, 1, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; t++) {
      const size_t tile = t % tiles, bh = t / tiles, i0 = tile * BR;
      attentionTile(q, k, v, mask, out, stats, s, scale, bh / s.H, bh % s.H, i0, std::min(BR, s.Lq - i0));
    }
  });
}

void attentionGrad(const float* dout, const float* q, const float* k, const float* v, MaskView mask, const float* out, const float* stats,
                   float* dq, float* dk, float* dv, AttentionShape s, float scale) {
  const bool rows = fullRows(s);
  parallelFor(s.B * s.H, 1, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; t++)
      if (rows) attentionGradRows(dout, q, k, v, mask, out, stats, dq, dk, dv, s, scale, t / s.H, t % s.H);
      else attentionGradHead(dout, q, k, v, mask, out, stats, dq, dk, dv, s, scale, t / s.H, t % s.H);
  });
}

size_t setAttentionFullRowLimit(size_t scores) {
  const size_t old = gFullRowScores;
  gFullRowScores = scores;
  return old;
}

namespace {
FUSED_CLONES void dropoutRange(const float* x, float* y, uint8_t* mask, size_t b, size_t e, float rate, float scale, uint64_t key) {
  for (size_t i = b; i < e; i++) {
    const float u = (float)(splitmix64(key + i) >> 40) * (1.0f / 16777216.0f);  // 24 bits: [0, 1)
    const bool keep = u >= rate;
    mask[i] = keep;
    y[i] = keep ? x[i] * scale : 0.0f;
  }
}
// Runs [r0, r1) of keyedDropout: run r is sample r / (runs per sample), its middle indices the remainder row-major.
FUSED_CLONES void keyedDropoutRuns(const float* x, float* y, uint8_t* mask, const size_t* mids, size_t m, size_t last, const KeyedDropout& k,
                                   size_t r0, size_t r1) {
  size_t per = 1, idx[kKeyedMaxMids];
  for (size_t j = 0; j < m; j++) per *= mids[j];
  for (size_t r = r0; r < r1; r++) {
    size_t rest = r % per;
    for (size_t j = m; j-- > 0;) {
      idx[j] = rest % mids[j];
      rest /= mids[j];
    }
    const uint32_t seed = keyedRunSeed(k, r / per, idx, m);
    const size_t o = r * last;
    for (size_t e = 0; e < last; e++) {
      const bool keep = keyedKeep(k, seed, e);
      mask[o + e] = keep;
      y[o + e] = x[o + e] * (keep ? k.scale : 0.0f);  // x * (keep / keepProb), as the JS path: -0 and NaN alike
    }
  }
}
}  // namespace

void dropout(const float* x, float* y, uint8_t* mask, size_t n, float rate, uint32_t seed) {
  const float scale = 1.0f / (1.0f - rate);
  const uint64_t key = (uint64_t)seed << 40;  // 2^40 elements per seed before two seeds' streams could meet
  parallelFor(n, (size_t)1 << 17, [&](size_t b, size_t e) { dropoutRange(x, y, mask, b, e, rate, scale, key); });
}

void keyedDropout(const float* x, float* y, uint8_t* mask, const size_t* mids, size_t m, size_t last, const KeyedDropout& k) {
  size_t runs = k.n;
  for (size_t j = 0; j < m; j++) runs *= mids[j];
  parallelFor(runs, std::max<size_t>(1, ((size_t)1 << 17) / std::max<size_t>(last, 1)),
              [&](size_t r0, size_t r1) { keyedDropoutRuns(x, y, mask, mids, m, last, k, r0, r1); });
}

}  // namespace altclip
