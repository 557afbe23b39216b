/* osu_allreduce-style raw MPI loop: in-place MPI_Allreduce (float sum) of each size, `iters` timed repetitions after
 * `warmup`, barrier before each size; rank 0 prints one JSON line per size: bytes and the median seconds per call.
 * Built by `npm run bench -- data-parallel` with mpicc, as the reference for the N-API binding's allreduce. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int iters = argc > 1 ? atoi(argv[1]) : 10, warmup = 2;
  for (int a = 2; a < argc; a++) {
    long bytes = atol(argv[a]);
    long n = bytes / 4;
    float* buf = malloc(n * sizeof(float));
    for (long i = 0; i < n; i++) buf[i] = (float)(i % 97) * 0.5f;
    double* t = malloc(iters * sizeof(double));
    MPI_Barrier(MPI_COMM_WORLD);
    for (int i = 0; i < warmup + iters; i++) {
      double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      if (i >= warmup) t[i - warmup] = MPI_Wtime() - t0;
    }
    qsort(t, iters, sizeof(double), cmp);
    if (rank == 0) printf("{\"bytes\": %ld, \"seconds\": %.9f}\n", bytes, t[iters / 2]);
    fflush(stdout);
    free(buf);
    free(t);
  }
  MPI_Finalize();
  return 0;
}
