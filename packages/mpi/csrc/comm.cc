#include "comm.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace altclip_mpi {
namespace {

using Clock = std::chrono::steady_clock;

// Arrival notices travel on a duplicate of MPI_COMM_WORLD, so they never match anything else.
constexpr int kArriveTag = 7001;
// MPI counts are int: big buffers go in pieces of at most this many elements.
constexpr int64_t kChunk = int64_t(1) << 28;

struct State {
  std::thread comm, watchdog;
  std::mutex m;
  std::condition_variable cv, stopCv;
  std::deque<Op*> queue;
  bool stop = false, finalized = false, started = false;
  int rank = 0, size = 1, threadLevel = 0;
  std::string host;
  MPI_Comm ctrl = MPI_COMM_NULL;
  // The op in progress (read by the watchdog).
  std::atomic<uint64_t> seq{0};
  std::atomic<bool> busy{false};
  std::atomic<int64_t> busySinceMs{0};
  std::string busyLabel;  // guarded by m
  std::atomic<double> timeout{600};
  // Own arrival sends still in flight, with their buffers.
  std::vector<MPI_Request> sends;
  std::deque<uint64_t> sendBufs;
  // Highest op number each rank has announced (watchdog thread only).
  std::vector<uint64_t> arrived;
  double busySeconds = 0, bytes = 0;
  uint64_t ops = 0;
} S;

int64_t nowMs() { return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count(); }

std::string mpiError(int rc) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, buf, &len);
  return std::string(buf, len);
}

// Tells every other rank "I have reached op `seq`" (tiny eager messages; never waited on here).
void announce(uint64_t seq) {
  if (S.threadLevel < MPI_THREAD_MULTIPLE || S.size < 2) return;
  int done = 0;
  if (!S.sends.empty()) {
    MPI_Testall(int(S.sends.size()), S.sends.data(), &done, MPI_STATUSES_IGNORE);
    if (done) {
      S.sends.clear();
      S.sendBufs.clear();
    }
  }
  S.sendBufs.push_back(seq);
  uint64_t* b = &S.sendBufs.back();  // deque: stays valid while later elements are pushed
  for (int r = 0; r < S.size; r++) {
    if (r == S.rank) continue;
    MPI_Request req;
    MPI_Isend(b, 1, MPI_UINT64_T, r, kArriveTag, S.ctrl, &req);
    S.sends.push_back(req);
  }
}

int run(Op* op) {
  int rc = MPI_SUCCESS;
  char* p = static_cast<char*>(op->buf);
  switch (op->kind) {
    case Kind::Allreduce:
      for (int64_t off = 0; off < op->count && rc == MPI_SUCCESS; off += kChunk) {
        int n = int(std::min(kChunk, op->count - off));
        rc = MPI_Allreduce(MPI_IN_PLACE, p + off * op->elem, n, op->type, MPI_SUM, MPI_COMM_WORLD);
      }
      S.bytes += double(op->count) * op->elem;
      break;
    case Kind::Bcast:
      for (int64_t off = 0; off < op->count && rc == MPI_SUCCESS; off += kChunk) {
        int n = int(std::min(kChunk, op->count - off));
        rc = MPI_Bcast(p + off * op->elem, n, op->type, op->root, MPI_COMM_WORLD);
      }
      S.bytes += double(op->count) * op->elem;
      break;
    case Kind::Allgatherv:
      rc = MPI_Allgatherv(op->buf, int(op->count), op->type, op->recv, op->counts.data(), op->displs.data(), op->type, MPI_COMM_WORLD);
      for (int c : op->counts) S.bytes += double(c) * op->elem;
      break;
    case Kind::Barrier:
      rc = MPI_Barrier(MPI_COMM_WORLD);
      break;
  }
  return rc;
}

void commLoop() {
  for (;;) {
    Op* op;
    {
      std::unique_lock<std::mutex> lk(S.m);
      S.cv.wait(lk, [] { return S.stop || !S.queue.empty(); });
      if (S.queue.empty()) return;  // stop requested and nothing left
      op = S.queue.front();
      S.queue.pop_front();
      S.busyLabel = op->label;
    }
    uint64_t seq = ++S.seq;
    announce(seq);
    S.busySinceMs = nowMs();
    S.busy = true;
    auto t0 = Clock::now();
    int rc = run(op);
    op->seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    S.busy = false;
    S.busySeconds += op->seconds;
    S.ops++;
    if (rc != MPI_SUCCESS) {
      op->ok = false;
      op->error = "rank " + std::to_string(S.rank) + ": MPI error in collective #" + std::to_string(seq) + " (" + op->label + "): " + mpiError(rc);
    }
    op->done(op);
  }
}

void drainArrivals() {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kArriveTag, S.ctrl, &flag, &st) != MPI_SUCCESS || !flag) return;
    uint64_t v = 0;
    MPI_Recv(&v, 1, MPI_UINT64_T, st.MPI_SOURCE, kArriveTag, S.ctrl, MPI_STATUS_IGNORE);
    S.arrived[st.MPI_SOURCE] = std::max(S.arrived[st.MPI_SOURCE], v);
  }
}

// Names the ranks that have not announced op `seq` and ends the job.
[[noreturn]] void fire(uint64_t seq, double waited) {
  std::string label;
  {
    std::lock_guard<std::mutex> lk(S.m);
    label = S.busyLabel;
  }
  std::string missing;
  int nMissing = 0;
  if (S.threadLevel >= MPI_THREAD_MULTIPLE) {
    drainArrivals();
    for (int r = 0; r < S.size; r++)
      if (r != S.rank && S.arrived[r] < seq) missing += (nMissing++ ? ", " : "") + std::to_string(r);
  }
  char head[256];
  snprintf(head, sizeof head, "altclip: rank %d (%s): collective #%llu (%s) waited %.0f s", S.rank, S.host.c_str(), (unsigned long long)seq, label.c_str(), waited);
  std::string msg = head;
  if (nMissing)
    msg += std::string(" for rank") + (nMissing > 1 ? "s " : " ") + missing + ", which never reached it: " + (nMissing > 1 ? "they" : "it") +
           " died or hangs";
  else if (S.threadLevel >= MPI_THREAD_MULTIPLE)
    msg += "; every rank reached it, so the interconnect is stuck";
  else
    msg += " (this MPI lacks MPI_THREAD_MULTIPLE, so the late rank cannot be named)";
  char tail[160];
  snprintf(tail, sizeof tail, ". Ending the job on every rank (timeout %.0f s: ALTCLIP_MPI_TIMEOUT).", S.timeout.load());
  abortJob(msg + tail, 70);
}

void watchdogLoop() {
  std::unique_lock<std::mutex> lk(S.m);
  while (!S.stop) {
    S.stopCv.wait_for(lk, std::chrono::milliseconds(250));
    if (S.stop) break;
    lk.unlock();
    if (S.threadLevel >= MPI_THREAD_MULTIPLE) drainArrivals();
    if (S.busy) {
      double waited = (nowMs() - S.busySinceMs.load()) / 1000.0;
      if (waited > S.timeout) fire(S.seq, waited);
    }
    lk.lock();
  }
}

// Open MPI's default allreduce algorithms (recursive doubling, ring) malloc a scratch buffer the size of the message
// (or half of it) on every call. @altclip/native fixes glibc's mmap threshold at 128 KiB (issue 24), so that buffer is
// a fresh mmap each time and its pages fault in and are zeroed on every call: half the bandwidth at 1-25 MiB
// (docs/data-parallel.md, "Allreduce"). The segmented ring's scratch is one or two 64 KiB segments, reused from
// malloc's arena (messages under a segment per rank fall back to the ring and recursive doubling inside it). Applied
// only where the user (or mpirun --mca) chose no allreduce algorithm of coll/tuned; other MPIs ignore these.
void preferSegmentedRing() {
  if (getenv("OMPI_MCA_coll_tuned_use_dynamic_rules") || getenv("OMPI_MCA_coll_tuned_allreduce_algorithm")) return;
  setenv("OMPI_MCA_coll_tuned_use_dynamic_rules", "1", 0);
  setenv("OMPI_MCA_coll_tuned_allreduce_algorithm", "5", 0);  // 5: segmented ring
  setenv("OMPI_MCA_coll_tuned_allreduce_algorithm_segmentsize", "65536", 0);
}

}  // namespace

InitInfo start(double timeoutSec) {
  InitInfo info;
  if (S.started) {
    info.rank = S.rank;
    info.size = S.size;
    info.threadLevel = S.threadLevel;
    info.host = S.host;
    return info;
  }
  S.timeout = timeoutSec;
  preferSegmentedRing();  // before MPI_Init_thread reads the environment
  auto ready = std::make_shared<std::promise<InitInfo>>();
  auto fut = ready->get_future();
  S.comm = std::thread([ready] {
    InitInfo r;
    int provided = 0;
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    if (rc != MPI_SUCCESS) {
      r.error = "MPI_Init_thread failed: " + mpiError(rc);
      ready->set_value(r);
      return;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &r.size);
    // Errors come back as messages (thrown in JS) instead of killing the process without one.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_dup(MPI_COMM_WORLD, &S.ctrl);
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(lib, &len);
    r.library = std::string(lib, len);
    char host[MPI_MAX_PROCESSOR_NAME];
    MPI_Get_processor_name(host, &len);
    r.host = std::string(host, len);
    r.threadLevel = provided;
    S.rank = r.rank;
    S.size = r.size;
    S.threadLevel = provided;
    S.host = r.host;
    S.arrived.assign(r.size, 0);
    ready->set_value(r);
    commLoop();
    // finalize(): every queued op is done and the watchdog has stopped.
    if (!S.sends.empty()) MPI_Waitall(int(S.sends.size()), S.sends.data(), MPI_STATUSES_IGNORE);
    MPI_Comm_free(&S.ctrl);
    MPI_Finalize();
  });
  info = fut.get();
  if (!info.error.empty()) {
    S.comm.join();
    return info;
  }
  S.started = true;
  S.watchdog = std::thread(watchdogLoop);
  return info;
}

bool started() { return S.started && !S.finalized; }

void submit(Op* op) {
  {
    std::lock_guard<std::mutex> lk(S.m);
    S.queue.push_back(op);
  }
  S.cv.notify_all();
}

void setTimeout(double sec) { S.timeout = sec; }
double timeoutSec() { return S.timeout; }

void stats(double* seconds, double* bytes, uint64_t* ops) {
  *seconds = S.busySeconds;
  *bytes = S.bytes;
  *ops = S.ops;
}

void abortJob(const std::string& msg, int code) {
  if (!msg.empty()) {
    fprintf(stderr, "%s\n", msg.c_str());
    fflush(stderr);
  }
  MPI_Abort(MPI_COMM_WORLD, code);
  _exit(code);  // MPI_Abort does not return; this is for an MPI that does
}

void finalize() {
  if (!S.started || S.finalized) return;
  S.finalized = true;
  {
    std::lock_guard<std::mutex> lk(S.m);
    S.stop = true;
  }
  S.stopCv.notify_all();
  S.cv.notify_all();
  S.watchdog.join();
  S.comm.join();
}

}  // namespace altclip_mpi
