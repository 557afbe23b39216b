// Built-in SGEMM code paths vs OpenBLAS cblas_sgemm, same inputs, same process, 2 threads each, alternating within
// each round; prints median GFLOP/s and checks the results agree. Needs libopenblas-dev. From packages/native:
//   g++ -O3 -std=c++17 -ffp-contract=fast -Icsrc scripts/gemm-bench.cc csrc/sgemm.cc csrc/pool.cc -lopenblas -pthread -o /tmp/gemm-bench
//   /tmp/gemm-bench [rounds] [M N K tA tB]...      (default: a few BERT/ViT shapes, all transpose pairs of one)
// The project's benchmark is `npm run bench -- gemm` (bench/src/gemm.ts); this one needs no Node.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "pool.h"
#include "sgemm.h"
extern "C" void openblas_set_num_threads(int);
using namespace altclip;

// Defined in kernels.cc in the addon; the bench links only sgemm.cc and pool.cc.
namespace altclip {
bool haveOpenBlas() { return true; }
GemmMode gemmMode() { return GemmMode::Builtin; }
void setGemmMode(GemmMode) {}
}  // namespace altclip

int main(int argc, char** argv) {
  // BENCH_THREADS=1: one thread, timed by its CPU time (robust when other processes share the cores).
  const int threads = getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 2;
  setPoolThreads(threads);
  openblas_set_num_threads(threads);
  auto now = [threads]() {
    if (threads > 1) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  };
  int rounds = argc > 1 ? atoi(argv[1]) : 5;
  std::vector<std::vector<int>> shapes;
  for (int i = 2; i + 4 < argc; i += 5) shapes.push_back({atoi(argv[i]), atoi(argv[i + 1]), atoi(argv[i + 2]), atoi(argv[i + 3]), atoi(argv[i + 4])});
  if (shapes.empty()) shapes = {{512, 768, 768, 0, 0}, {512, 768, 768, 0, 1}, {512, 768, 768, 1, 0}, {512, 768, 768, 1, 1},
                                {2048, 3072, 768, 0, 0}, {2048, 768, 3072, 0, 0}, {788, 768, 768, 0, 0}, {197, 197, 64, 0, 1}, {197, 64, 197, 0, 0}};
  const char* isas[] = {"avx512", "avx2"};
  for (auto& s : shapes) {
    int M = s[0], N = s[1], K = s[2];
    bool ta = s[3], tb = s[4];
    std::vector<float> a((size_t)M * K), b((size_t)K * N), c0((size_t)M * N), c1((size_t)M * N);
    for (auto& x : a) x = rand() / (float)RAND_MAX - 0.5f;
    for (auto& x : b) x = rand() / (float)RAND_MAX - 0.5f;
    int lda = ta ? M : K, ldb = tb ? K : N;
    double fl = 2.0 * M * N * K;
    int reps = std::max(1, std::min(200, (int)((getenv("BENCH_FLOP") ? atof(getenv("BENCH_FLOP")) : 1.5e8) / fl)));
    std::vector<double> g[3];
    double err[2] = {0, 0};
    for (int r = 0; r < rounds; r++) {
      for (int w = 0; w < 3; w++) {
        int which = (w + r) % 3;
        // BENCH_ONLY=avx512|avx2|openblas: time one path (profiling).
        if (getenv("BENCH_ONLY") && strcmp(getenv("BENCH_ONLY"), which == 2 ? "openblas" : isas[which]) != 0) {
          g[which].push_back(0);
          continue;
        }
        double t0 = now();
        for (int q = 0; q < reps; q++) {
          if (which == 2) cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.f, a.data(), lda, b.data(), ldb, 0.f, c0.data(), N);
          else {
            setSgemmIsa(isas[which]);
            sgemmBuiltin(ta, tb, M, N, K, a.data(), lda, b.data(), ldb, c1.data(), N, true);
          }
        }
        double t1 = now();
        g[which].push_back(fl * reps / (t1 - t0) / 1e9);
        if (which < 2 && r == 0) {
          cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.f, a.data(), lda, b.data(), ldb, 0.f, c0.data(), N);
          for (size_t i = 0; i < c0.size(); i++) err[which] = std::max(err[which], (double)std::fabs(c0[i] - c1[i]));
        }
      }
    }
    std::function<double(std::vector<double>)> med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
    // BENCH_BEST=1: best round instead of the median (kernel tuning: the least disturbed round).
    if (getenv("BENCH_BEST")) med = [](std::vector<double> v) { return *std::max_element(v.begin(), v.end()); };
    double m5 = med(g[0]), m2 = med(g[1]), mb = med(g[2]);
    printf("%5d x %5d x %5d %c%c  avx512 %6.1f  avx2 %6.1f  openblas %6.1f  avx512/blas %.2f  avx2/blas %.2f  maxdiff %.1e %.1e\n", M, N, K,
           ta ? 'T' : 'N', tb ? 'T' : 'N', m5, m2, mb, m5 / mb, m2 / mb, err[0], err[1]);
    fflush(stdout);
  }
}
