// Fused transformer-block kernels (issue 12): LayerNorm, bias + GELU, masked softmax and flash-style attention,
// each with its backward. Row-major float32 throughout; the caller resolves heap offsets to pointers.
#pragma once
#include <cstdint>
#include <cstddef>

#include "keyed.h"

namespace altclip {

// y = (x - mean) * rstd * gamma + beta per row of x [rows, D]; also writes mean and rstd [rows] (the backward
// recomputes the normalised row from them instead of keeping it).
void layerNorm(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, size_t rows, size_t D,
               float eps);
// dx [rows, D], dgamma [D], dbeta [D] from dy, x, gamma and the forward's mean/rstd.
void layerNormGrad(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, float* dgamma,
                   float* dbeta, size_t rows, size_t D);

enum FusedAct { kGeluErf = 0, kQuickGelu = 1 };
// y = act(x + bias) for x [rows, N], bias [N].
void biasAct(int act, const float* x, const float* bias, float* y, size_t rows, size_t N);
// dx = dy * act'(x + bias) (recomputed from x), dbias = sum over rows of dx.
void biasActGrad(int act, const float* dy, const float* x, const float* bias, float* dx, float* dbias, size_t rows, size_t N);

// Broadcast view of an additive mask over [B, H, Lq, Lk]: element (b, h, i, j) at b*sb + h*sh + i*sq + j.
struct MaskView {
  const float* p;  // null: no mask
  size_t sb, sh, sq;
};

// y = softmax(x * scale + mask) over the last axis of x [B, H, Lq, Lk].
void softmaxMask(const float* x, MaskView mask, float* y, size_t B, size_t H, size_t Lq, size_t Lk, float scale);
// dx = scale * y * (dy - sum(dy * y)) per row of [rows, cols].
void softmaxMaskGrad(const float* dy, const float* y, float* dx, size_t rows, size_t cols, float scale);

// Multi-head attention on projections laid out as the linear layers produce them: q [B, Lq, H*d], k and v
// [B, Lk, H*d]; head h is the column block [h*d, (h+1)*d). out [B, Lq, H*d] = softmax(q k^T * scale + mask) v per
// (batch, head), computed in key tiles with an online softmax so no [Lq, Lk] score matrix exists. stats
// [B, H, Lq, 2] = (row max, 1 / row sum of exp(s - max)): the backward rebuilds the probabilities from them.
struct AttentionShape {
  size_t B, H, Lq, Lk, d;
  // bf16 products (inputs rounded while packed, float32 accumulation; softmax stays float32) on whole score rows;
  // the key-tile path of long heads stays float32.
  bool bf16 = false;
  // Dropout on the probabilities (training): P[b, h, i, j] is kept when the 24-bit hash of (seed, flat index) is at
  // least dropRate24 (= rate * 2^24; 0: no dropout) and scaled by 1 / (1 - rate); the backward pass rebuilds the same
  // mask. Whole-row path only (attention() refuses it on key tiles).
  uint32_t dropRate24 = 0;
  uint32_t dropSeed = 0;
  // Non-null: the mask is keyed per sample instead (keyed.h; seed and rate above unused): row (b, h, i) draws over
  // the keys j from the stream of sample b / (B / n) at middle indices (b % (B / n), h, i), as keyedKeepMask on the
  // composed path's [B, H, Lq, Lk] probabilities.
  const KeyedDropout* keyed = nullptr;
};
void attention(const float* q, const float* k, const float* v, MaskView mask, float* out, float* stats, AttentionShape s, float scale);
// dq, dk, dv (layouts of q, k, v) from dout, recomputing the scores tile by tile.
void attentionGrad(const float* dout, const float* q, const float* k, const float* v, MaskView mask, const float* out, const float* stats,
                   float* dq, float* dk, float* dv, AttentionShape s, float scale);

// Dropout with a counter-based generator: element i is kept when u(seed, i) >= rate, u uniform in [0, 1) from a
// hash of (seed, i) (splitmix64), so any thread computes any element and the same seed gives the same mask.
// y = keep ? x / (1 - rate) : 0; mask[i] = keep (1 byte).
void dropout(const float* x, float* y, uint8_t* mask, size_t n, float rate, uint32_t seed);
// Dropout with masks keyed per sample (keyed.h): x laid out [k.n, mids..., last] (middle axes mids[0..m)), each run
// of `last` elements drawn from its own stream. y = x * (keep ? k.scale : 0); mask = keep (1 byte).
void keyedDropout(const float* x, float* y, uint8_t* mask, const size_t* mids, size_t m, size_t last, const KeyedDropout& k);
// Most middle axes keyedDropout takes.
constexpr size_t kKeyedMaxMids = 8;

// Heads with at most `scores` = Lq * Lk scores run on whole score rows and the built-in SGEMM; longer ones in
// flash-style key tiles (default 1 << 20). Returns the previous limit (tests force each path with it).
size_t setAttentionFullRowLimit(size_t scores);
// False when `s` asks for dropout on a head too long for the whole-row path (the key tiles have none).
bool attentionDropoutFits(const AttentionShape& s);

}  // namespace altclip
