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

// The default SGEMM when the addon loads: ALTCLIP_NATIVE_GEMM=builtin|openblas when set; else the built-in one when
// ALTCLIP_NATIVE_ISA names a path this CPU runs; else OpenBLAS (when linked). The avx512 path matches OpenBLAS per
// core but a whole training step was not faster with it (packages/native/README.md), so OpenBLAS stays the default.
bool builtinGemmByDefault();

// Which SGEMM gemm() uses now (addon.cc sets builtinGemmByDefault() at load; setUseBuiltinGemm switches; without
// OpenBLAS it is always the built-in one).
bool haveOpenBlas();
bool useBuiltinGemm();
void setUseBuiltinGemm(bool builtin);

}  // namespace altclip
