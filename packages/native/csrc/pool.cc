#include "pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace altclip {
namespace {

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// One job slot, reused. The caller never waits for a sleeping worker: it waits only until every chunk is done
// and no worker still holds the slot (`refs`), so a worker that wakes late simply finds nothing to do.
struct Job {
  const std::function<void(size_t, size_t)>* fn = nullptr;
  size_t n = 0, chunk = 0, chunks = 0;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::atomic<int> refs{0};

  void run() {
    for (;;) {
      size_t c = next.fetch_add(1);
      if (c >= chunks) return;
      size_t b = c * chunk, e = b + chunk < n ? b + chunk : n;
      (*fn)(b, e);
      done.fetch_add(1);
    }
  }
};

struct Pool {
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable wake;
  std::atomic<Job*> current{nullptr};
  std::atomic<uint64_t> generation{0};
  Job slot;
  bool stop = false;

  void workerLoop() {
    uint64_t seen = 0;
    for (;;) {
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(30);
      while (generation.load() == seen && std::chrono::steady_clock::now() < until) cpuRelax();
      if (generation.load() == seen) {
        std::unique_lock<std::mutex> lk(mu);
        wake.wait(lk, [&] { return stop || generation.load() != seen; });
        if (stop) return;
      }
      seen = generation.load();
      Job* j = current.load();
      if (!j) continue;
      j->refs.fetch_add(1);
      if (current.load() == j) j->run();
      j->refs.fetch_sub(1);
    }
  }

  void resize(int threads) {
    shutdown();
    stop = false;
    for (int i = 1; i < threads; i++) workers.emplace_back([this] { workerLoop(); });
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
    }
    wake.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  }
};

Pool& pool() {
  static Pool* p = [] {
    auto* q = new Pool();  // leaked on purpose: joining threads during static destruction can deadlock
    unsigned hc = std::thread::hardware_concurrency();
    q->resize(hc == 0 ? 1 : (hc > 8 ? 8 : (int)hc));
    return q;
  }();
  return *p;
}

}  // namespace

int poolThreads() { return (int)pool().workers.size() + 1; }

void setPoolThreads(int n) { pool().resize(n < 1 ? 1 : n); }

void parallelFor(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn) {
  Pool& p = pool();
  size_t threads = p.workers.size() + 1;
  if (grain == 0) grain = 1;
  size_t chunks = (n + grain - 1) / grain;
  if (threads == 1 || chunks <= 1) {
    if (n) fn(0, n);
    return;
  }
  // A few chunks per thread so a machine shared with other processes still balances.
  size_t want = threads * 4 < chunks ? threads * 4 : chunks;
  Job& j = p.slot;
  j.fn = &fn;
  j.n = n;
  j.chunk = (n + want - 1) / want;
  j.chunks = (n + j.chunk - 1) / j.chunk;
  j.next.store(0);
  j.done.store(0);
  p.current.store(&j);
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.generation.fetch_add(1);
  }
  p.wake.notify_all();
  j.run();
  while (j.done.load() != j.chunks) cpuRelax();
  p.current.store(nullptr);
  while (j.refs.load() != 0) cpuRelax();
}

}  // namespace altclip
