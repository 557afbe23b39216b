// The built-in SGEMM (csrc/sgemm.cc): C = op(A) op(B), row-major, alpha 1, beta 0 (what every call site needs).
#pragma once

namespace altclip {

// `parallel`: may use the pool's threads (false when already called from inside parallelFor).
void sgemmBuiltin(bool transA, bool transB, int M, int N, int K, const float* a, int lda, const float* b, int ldb, float* c, int ldc,
                  bool parallel);

// Which SGEMM gemm() uses: OpenBLAS when linked, unless ALTCLIP_NATIVE_GEMM=builtin or setUseBuiltinGemm(true).
bool haveOpenBlas();
bool useBuiltinGemm();
void setUseBuiltinGemm(bool builtin);

}  // namespace altclip
