// Register-only throughput loops (`npm run bench -- peak`): the arithmetic peak the GEMM benches are measured
// against. 12 independent accumulators hide the FMA / vdpbf16ps latency (4-6 cycles, 2 pipes); nothing is loaded
// or stored inside the loop.
#include <atomic>
#include <cstring>

#include "pool.h"
#include "sgemm.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define PEAK_X86 1
#endif

namespace altclip {
namespace {

#ifdef PEAK_X86
constexpr int kAcc = 12;

// kAcc accumulators of type VEC, each updated by OP (an expression of acc[i]) `iters` times, then summed into a
// value the compiler cannot drop.
#define REGISTER_LOOP(VEC, INIT, OP)                                    \
  VEC acc[kAcc];                                                        \
  for (int i = 0; i < kAcc; i++) acc[i] = INIT((float)i);               \
  for (long t = 0; t < iters; t++)                                      \
    _Pragma("GCC unroll 12") for (int i = 0; i < kAcc; i++) acc[i] = OP; \
  for (int i = 1; i < kAcc; i++) acc[0] += acc[i];                      \
  float out[sizeof(VEC) / 4];                                           \
  std::memcpy(out, &acc[0], sizeof out);                                \
  volatile float sink = out[0];                                         \
  (void)sink

// Returns flops: iters x 12 accumulators x 16 lanes x 2 (multiply and add).
__attribute__((target("arch=x86-64-v4"))) double fmaLoop512(long iters) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  REGISTER_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps(acc[i], a, b));
  return (double)iters * kAcc * 16 * 2;
}

// 8 lanes on AVX2/FMA CPUs.
__attribute__((target("arch=x86-64-v3"))) double fmaLoop256(long iters) {
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  REGISTER_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps(acc[i], a, b));
  return (double)iters * kAcc * 8 * 2;
}

// vdpbf16ps: per lane two bf16 products added to the float32 accumulator (4 flops).
__attribute__((target("arch=x86-64-v4,avx512bf16"))) double dpbf16Loop(long iters) {
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x33d633d6);
  REGISTER_LOOP(__m512, _mm512_set1_ps, _mm512_dpbf16_ps(acc[i], a, b));
  return (double)iters * kAcc * 16 * 4;
}
#undef REGISTER_LOOP
#endif

double peakOnce(int kind, long iters) {
#ifdef PEAK_X86
  if (kind == 1) return bf16Native() ? dpbf16Loop(iters) : 0;
  if (__builtin_cpu_supports("avx512f")) return fmaLoop512(iters);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return fmaLoop256(iters);
#endif
  return 0;
}

}  // namespace

double peakLoop(int kind, long iters, int threads) {
  if (threads <= 1) return peakOnce(kind, iters);
  std::atomic<double> total{0};
  parallelFor((size_t)threads, 1, [&](size_t b, size_t e) {
    double f = 0;
    for (size_t t = b; t < e; t++) f += peakOnce(kind, iters);
    double cur = total.load();
    while (!total.compare_exchange_weak(cur, cur + f)) {
    }
  });
  return total.load();
}

}  // namespace altclip
