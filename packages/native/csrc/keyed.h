// Dropout masks keyed per sample (issue 19: keyed by (seed, step, global sample index), so training results do not
// depend on the number of data-parallel ranks), bit for bit those of @altclip/models ops.ts keyedKeepMask: a run of
// the last axis draws from its own mulberry32 stream, seeded by hashing (the call's draw, the sample's key, the run's
// index on each middle axis) with `keyMix`. Any change here must be made there too (models' dropout tests compare
// the two bit for bit).
#pragma once
#include <cstddef>
#include <cstdint>

namespace altclip {

// The keys and draw of one keyed dropout call.
struct KeyedDropout {
  const uint32_t* keys;  // one per sample
  size_t n;              // samples: axis 0 holds n samples, or n groups of rows ([B*L, ...] read as [B, L, ...])
  uint32_t call;         // the call's draw (one Math.random per dropout call, as the JS path)
  uint64_t keepBelow;    // an element is kept when its 32-bit draw is below this (ceil(keepProb * 2^32))
  float scale;           // kept elements are multiplied by this (float32(1 / keepProb), as the JS path's float math)
};

// ops.ts mix: a splitmix32-style finaliser (Math.imul is the low 32 bits of the product).
inline uint32_t keyMix(uint32_t a, uint32_t b) {
  uint32_t h = ((a ^ 0x9e3779b9u) * 0x85ebca6bu) ^ b;
  h = (h ^ (h >> 16)) * 0x7feb352du;
  h = (h ^ (h >> 15)) * 0x846ca68bu;
  return h ^ (h >> 16);
}

// Draw e (0-based) of the mulberry32 stream seeded by `seed`: ops.ts adds 0x6d2b79f5 to the state before each draw,
// so draw e's state is seed + (e + 1) * 0x6d2b79f5 and every element is computed on its own (vectorisable).
inline uint32_t mulberry32At(uint32_t seed, uint32_t e) {
  const uint32_t a = seed + (e + 1) * 0x6d2b79f5u;
  uint32_t t = (a ^ (a >> 15)) * (1u | a);
  t = (t + (t ^ (t >> 7)) * (61u | t)) ^ t;
  return t ^ (t >> 14);
}

// The stream seed of sample s's run at middle indices idx[0..m) (row-major over the middle axes).
inline uint32_t keyedRunSeed(const KeyedDropout& k, size_t s, const size_t* idx, size_t m) {
  uint32_t seed = keyMix(k.call, k.keys[s]);
  for (size_t j = 0; j < m; j++) seed = keyMix(seed, (uint32_t)idx[j]);
  return seed;
}

inline bool keyedKeep(const KeyedDropout& k, uint32_t seed, size_t e) { return mulberry32At(seed, (uint32_t)e) < k.keepBelow; }

}  // namespace altclip
