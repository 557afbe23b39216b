// A tiny fork-join pool for the elementwise kernels: the calling thread does one share of the work and
// threads()-1 workers do the rest. Workers spin briefly after a job (back-to-back kernels are the norm in a
// training step) for ~30 us, then sleep on a condition variable so they never compete with OpenBLAS's own threads.
#pragma once
#include <cstddef>
#include <functional>

namespace altclip {

// Splits [0, n) into contiguous chunks of at least `grain` items and runs fn(begin, end) on each, in parallel
// when there is more than one chunk. Not reentrant: fn must not call parallelFor.
void parallelFor(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

int poolThreads();
void setPoolThreads(int n);

}  // namespace altclip
