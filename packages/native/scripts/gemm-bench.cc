// Built-in SGEMM vs OpenBLAS cblas_sgemm, same inputs, same process, 2 threads each, all transpose pairs; checks
// they agree. Needs libopenblas-dev. From packages/native:
//   g++ -O3 -std=c++17 -ffp-contract=fast -Icsrc scripts/gemm-bench.cc csrc/sgemm.cc csrc/pool.cc -lopenblas -pthread -o /tmp/gemm-bench && /tmp/gemm-bench
#include <cblas.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <vector>
#include "sgemm.h"
#include "pool.h"
extern "C" void openblas_set_num_threads(int);
using namespace altclip;
int main(int argc, char** argv) {
  setPoolThreads(2); openblas_set_num_threads(2);
  int shapes[][3] = {{512,768,768},{512,3072,768},{512,768,3072},{768,768,512},{64,64,64},{1,1,1},{7,5,3},{130,97,71},{1000,1000,1000}};
  for (auto& s : shapes) for (int t = 0; t < 4; t++) {
    int M=s[0],N=s[1],K=s[2]; bool ta=t&1, tb=t&2;
    std::vector<float> a((size_t)M*K), b((size_t)K*N), c1((size_t)M*N), c2((size_t)M*N);
    for (auto& x : a) x = rand()/(float)RAND_MAX-0.5f; for (auto& x : b) x = rand()/(float)RAND_MAX-0.5f;
    int lda = ta?M:K, ldb = tb?K:N;
    double fl = 2.0*M*N*K; int reps = std::max(1, (int)(2e9/fl)); if (reps>50) reps=50;
    auto t0 = std::chrono::steady_clock::now();
    for (int r=0;r<reps;r++) cblas_sgemm(CblasRowMajor, ta?CblasTrans:CblasNoTrans, tb?CblasTrans:CblasNoTrans, M,N,K,1.f,a.data(),lda,b.data(),ldb,0.f,c1.data(),N);
    auto t1 = std::chrono::steady_clock::now();
    for (int r=0;r<reps;r++) sgemmBuiltin(ta,tb,M,N,K,a.data(),lda,b.data(),ldb,c2.data(),N,true);
    auto t2 = std::chrono::steady_clock::now();
    double e=0; for (size_t i=0;i<c1.size();i++) e=std::max(e,(double)std::fabs(c1[i]-c2[i]));
    double g1 = fl*reps/std::chrono::duration<double>(t1-t0).count()/1e9, g2 = fl*reps/std::chrono::duration<double>(t2-t1).count()/1e9;
    if (fl > 1e7) printf("%dx%dx%d tA%d tB%d openblas %.1f GF builtin %.1f GF ratio %.2f maxdiff %.2g\n",M,N,K,ta,tb,g1,g2,g2/g1,e);
    else printf("%dx%dx%d tA%d tB%d maxdiff %.2g\n",M,N,K,ta,tb,e);
  }
}
