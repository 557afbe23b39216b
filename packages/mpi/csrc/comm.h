// The MPI engine behind the N-API binding: one communication thread makes every data-moving MPI call, in the order
// the JS side submits them, so JS can overlap an allreduce with the backward pass; a watchdog thread ends the job when
// a collective waits longer than the timeout and names the ranks that never reached it.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace altclip_mpi {

enum class Kind { Allreduce, Allgatherv, Bcast, Barrier };

struct Op {
  Kind kind = Kind::Barrier;
  std::string label;
  void* buf = nullptr;   // allreduce in/out, bcast buffer, allgatherv send
  void* recv = nullptr;  // allgatherv receive
  int64_t count = 0;     // elements: allreduce and bcast buffer, allgatherv own send count
  MPI_Datatype type = MPI_BYTE;
  size_t elem = 1;
  std::vector<int> counts, displs;  // allgatherv, elements per rank
  int root = 0;
  bool ok = true;
  std::string error;
  double seconds = 0;  // time inside MPI
  // Runs on the communication thread once the op has finished (ok or not).
  std::function<void(Op*)> done;
};

struct InitInfo {
  int rank = 0, size = 1, threadLevel = 0;
  std::string library, host, error;
};

// MPI_Init_thread on a new communication thread (MPI_THREAD_MULTIPLE wanted: the watchdog probes too).
InitInfo start(double timeoutSec);
bool started();
void submit(Op* op);
void setTimeout(double sec);
double timeoutSec();
// Busy seconds and bytes moved since start (for benchmarks).
void stats(double* seconds, double* bytes, uint64_t* ops);
// Prints `msg` and ends every rank of the job (MPI_Abort).
[[noreturn]] void abortJob(const std::string& msg, int code);
// Finishes queued ops, stops both threads, MPI_Finalize (on the thread that initialised MPI).
void finalize();

}  // namespace altclip_mpi
