// The built-in SGEMM (csrc/sgemm.cc): C = op(A) op(B), row-major, alpha 1, beta 0 (what every call site needs).
#pragma once

namespace altclip {

// `parallel`: may use the pool's threads (false when already called from inside parallelFor).
void sgemmBuiltin(bool transA, bool transB, int M, int N, int K, const float* a, int lda, const float* b, int ldb, float* c, int ldc,
                  bool parallel);

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
