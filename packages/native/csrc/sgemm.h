// The built-in SGEMM (csrc/sgemm.cc): C = op(A) op(B), row-major, alpha 1, beta 0 (what every call site needs).
#pragma once
#include <cstddef>
#include <cstdint>

namespace altclip {

// `parallel`: may use the pool's threads (false when already called from inside parallelFor).
void sgemmBuiltin(bool transA, bool transB, int M, int N, int K, const float* a, int lda, const float* b, int ldb, float* c, int ldc,
                  bool parallel);

// One operand of C = op(A) op(B): row-major values with leading dimension `ld`, op = transpose when `trans`;
// `bf16`: the values are bfloat16 (the upper 16 bits of a float32, stored as uint16), else float32.
struct GemmOperand {
  const void* p;
  int ld;
  bool trans;
  bool bf16;
};

// C = op(A) op(B) (alpha 1, beta 0) with float32 accumulation. `bf16Compute`: the products are of bf16 values (float32
// operands rounded to nearest even while they are packed; bf16 ones read as they are), on the AVX512_BF16 tile
// (vdpbf16ps) or, where the CPU lacks it or ALTCLIP_NATIVE_BF16=emulate, the emulated tile (the same packed bf16
// pairs widened in registers: same products, float32 FMA speed). Otherwise float32 products on the SGEMM path above
// (bf16 operands widened while packed).
void gemmBuiltin(const GemmOperand& a, const GemmOperand& b, int M, int N, int K, float* c, int ldc, bool bf16Compute, bool parallel);

// The bf16 tile bf16Compute runs: "avx512_bf16" (14x32, vdpbf16ps) or "emulated" (6x16, bf16 widened to float32).
const char* bf16GemmIsa();
// True when this CPU runs vdpbf16ps (AVX512_BF16 with AVX-512F/BW and the OS saving zmm state).
bool bf16Native();
// Forces the emulated tile (true) or goes back to the best one (false); tests compare the two.
void setBf16Emulation(bool on);
// True after setBf16Emulation(true) or with ALTCLIP_NATIVE_BF16=emulate: bf16 products were asked for explicitly
// where they are only emulated (the precision layer otherwise computes in float32 on such a CPU).
bool bf16EmulationForced();

// float32 -> bfloat16, round to nearest even (NaN stays a quiet NaN), as torch's .to(torch.bfloat16).
void toBf16(const float* x, uint16_t* out, size_t n);
void fromBf16(const uint16_t* x, float* out, size_t n);

// Register-only throughput loops for `npm run bench -- peak`: `iters` rounds of 12 independent accumulators on each
// of `threads` threads; returns floating-point operations done (a vdpbf16ps lane is 4: two products, two adds).
// kind 0: float32 FMA on the widest vectors this CPU has; 1: vdpbf16ps (0 when the CPU lacks it).
double peakLoop(int kind, long iters, int threads);

// The built-in SGEMM's code path: "avx512" (14x32 tile, AVX-512F), "avx2" (6x16 tile, x86-64-v3 AVX2/FMA) or
// "baseline" (6x16, whatever the compiler's default target allows). Picked when the addon loads: the best this CPU
// supports, or ALTCLIP_NATIVE_ISA when set and supported.
const char* sgemmIsa();
// A longer description for `altclip info`, e.g. "avx512, 14x32 tile, AVX-512F".
const char* sgemmIsaDescription();
bool sgemmIsaSupported(const char* isa);
// Switches the code path; false (and nothing changes) for an unknown name or one this CPU cannot run.
bool setSgemmIsa(const char* isa);

// Which SGEMM gemm() uses: OpenBLAS, the built-in one, or per shape (auto: the built-in AVX-512 tile where it beats
// OpenBLAS, builtinWins; OpenBLAS elsewhere). Without OpenBLAS it is always the built-in one.
enum class GemmMode { OpenBlas, Builtin, Auto };

// The mode when the addon loads: ALTCLIP_NATIVE_GEMM=auto|builtin|openblas when set; else builtin when
// ALTCLIP_NATIVE_ISA names a path this CPU runs (so that path is what runs); else auto.
GemmMode gemmModeByDefault();
// auto's choice for one M x K by K x N product: true where the built-in SGEMM's current path beats OpenBLAS on this
// shape, which depends on M and K only (`npm run bench -- gemm`; `batchedSmall`: one of many small products,
// attention's per-head ones).
bool builtinWins(int M, int K, bool batchedSmall);
// What auto runs on the built-in SGEMM, for `altclip info` ("" when its current path never wins).
const char* autoBuiltinShapes();

bool haveOpenBlas();
GemmMode gemmMode();
void setGemmMode(GemmMode mode);
const char* gemmModeName(GemmMode mode);
// "auto" | "builtin" | "openblas" -> *mode; false (and *mode unchanged) for anything else.
bool parseGemmMode(const char* name, GemmMode* mode);

}  // namespace altclip
