// N-API glue for comm.h. Every data op takes typed arrays (Float32Array, Float64Array, Int32Array, Uint8Array) and
// either blocks until done (sync: the main thread waits on the communication thread, so MPI still sees one caller
// per op) or returns a Promise (async: the typed arrays are referenced until it settles).
#include <node_api.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "comm.h"

namespace {

using altclip_mpi::Kind;
using altclip_mpi::Op;

struct ArgError {
  std::string msg;
};

napi_threadsafe_function g_tsfn = nullptr;
int g_inflight = 0;  // async ops not yet settled (main thread only): the event loop stays alive while > 0
napi_env g_env = nullptr;

struct Buf {
  void* data = nullptr;
  int64_t count = 0;
  MPI_Datatype type = MPI_BYTE;
  size_t elem = 1;
};

Buf typed(napi_env env, napi_value v, const char* what) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) throw ArgError{std::string(what) + " must be a typed array"};
  napi_typedarray_type t;
  size_t length = 0, off = 0;
  void* data = nullptr;
  napi_value ab;
  napi_get_typedarray_info(env, v, &t, &length, &data, &ab, &off);
  Buf b;
  b.data = data;
  b.count = int64_t(length);
  switch (t) {
    case napi_float32_array: b.type = MPI_FLOAT; b.elem = 4; break;
    case napi_float64_array: b.type = MPI_DOUBLE; b.elem = 8; break;
    case napi_int32_array: b.type = MPI_INT; b.elem = 4; break;
    case napi_uint8_array: b.type = MPI_BYTE; b.elem = 1; break;
    default: throw ArgError{std::string(what) + ": only Float32Array, Float64Array, Int32Array and Uint8Array are supported"};
  }
  return b;
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t n, const char* fn) {
  std::vector<napi_value> a(n);
  size_t argc = n;
  napi_get_cb_info(env, info, &argc, a.data(), nullptr, nullptr);
  if (argc < n) throw ArgError{std::string(fn) + ": expected " + std::to_string(n) + " arguments"};
  return a;
}

std::string str(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) throw ArgError{"label must be a string"};
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}

double num(napi_env env, napi_value v, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw ArgError{std::string(what) + " must be a number"};
  return d;
}

bool flag(napi_env env, napi_value v) {
  bool b = false;
  napi_get_value_bool(env, v, &b);
  return b;
}

napi_value throwIt(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

void requireStarted() {
  if (!altclip_mpi::started()) throw ArgError{"MPI is not initialised (call init first) or already finalised"};
}

// An op on one typed array (allreduce, bcast; allgatherv's send side).
Op bufferOp(Kind kind, const Buf& b, std::string label) {
  Op op;
  op.kind = kind;
  op.label = std::move(label);
  op.buf = b.data;
  op.count = b.count;
  op.type = b.type;
  op.elem = b.elem;
  return op;
}

// Async completion, on the main thread.
struct Pending {
  Op op;
  napi_deferred deferred = nullptr;
  std::vector<napi_ref> refs;
};

void settle(napi_env env, napi_value, void*, void* data) {
  auto* p = static_cast<Pending*>(data);
  if (env) {
    if (p->op.ok) {
      napi_value secs;
      napi_create_double(env, p->op.seconds, &secs);
      napi_resolve_deferred(env, p->deferred, secs);
    } else {
      napi_value msg, err;
      napi_create_string_utf8(env, p->op.error.c_str(), NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, nullptr, msg, &err);
      napi_reject_deferred(env, p->deferred, err);
    }
    for (auto r : p->refs) napi_delete_reference(env, r);
    if (--g_inflight == 0) napi_unref_threadsafe_function(env, g_tsfn);
  }
  delete p;
}

// Runs the op: async -> Promise, sync -> waits and returns the seconds spent in MPI.
napi_value dispatch(napi_env env, bool async, const std::vector<napi_value>& keep, Op&& op) {
  requireStarted();
  if (async) {
    auto* p = new Pending();
    p->op = std::move(op);
    napi_value promise;
    napi_create_promise(env, &p->deferred, &promise);
    for (auto v : keep) {
      napi_ref r;
      napi_create_reference(env, v, 1, &r);
      p->refs.push_back(r);
    }
    if (g_inflight++ == 0) napi_ref_threadsafe_function(env, g_tsfn);
    p->op.done = [p](Op*) { napi_call_threadsafe_function(g_tsfn, p, napi_tsfn_blocking); };
    altclip_mpi::submit(&p->op);
    return promise;
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  op.done = [&](Op*) {
    std::lock_guard<std::mutex> lk(m);
    done = true;
    cv.notify_all();
  };
  altclip_mpi::submit(&op);
  {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [&] { return done; });
  }
  if (!op.ok) throw ArgError{op.error};
  napi_value secs;
  napi_create_double(env, op.seconds, &secs);
  return secs;
}

napi_value Init(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 1, "init");
    double timeout = num(env, a[0], "timeout");
    auto r = altclip_mpi::start(timeout);
    if (!r.error.empty()) return throwIt(env, r.error);
    if (!g_tsfn) {
      napi_value name;
      napi_create_string_utf8(env, "altclip_mpi", NAPI_AUTO_LENGTH, &name);
      napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, nullptr, settle, &g_tsfn);
      napi_unref_threadsafe_function(env, g_tsfn);
      g_env = env;
    }
    napi_value o, v;
    napi_create_object(env, &o);
    napi_create_int32(env, r.rank, &v);
    napi_set_named_property(env, o, "rank", v);
    napi_create_int32(env, r.size, &v);
    napi_set_named_property(env, o, "size", v);
    napi_create_int32(env, r.threadLevel, &v);
    napi_set_named_property(env, o, "threadLevel", v);
    napi_create_int32(env, MPI_THREAD_MULTIPLE, &v);
    napi_set_named_property(env, o, "threadMultiple", v);
    napi_create_string_utf8(env, r.library.c_str(), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "library", v);
    napi_create_string_utf8(env, r.host.c_str(), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "host", v);
    return o;
  } catch (const ArgError& e) {
    return throwIt(env, "mpi.init: " + e.msg);
  }
}

// allreduce(buf, label, async): in-place sum over ranks.
napi_value Allreduce(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 3, "allreduce");
    Buf b = typed(env, a[0], "allreduce: buffer");
    if (b.type == MPI_BYTE) throw ArgError{"allreduce: a Uint8Array cannot be summed"};
    return dispatch(env, flag(env, a[2]), {a[0]}, bufferOp(Kind::Allreduce, b, str(env, a[1])));
  } catch (const ArgError& e) {
    return throwIt(env, e.msg);
  }
}

// allgatherv(send, recv, counts: Int32Array, label, async): rank r's `counts[r]` elements land after ranks < r.
napi_value Allgatherv(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 5, "allgatherv");
    Buf s = typed(env, a[0], "allgatherv: send buffer");
    Buf r = typed(env, a[1], "allgatherv: receive buffer");
    Buf c = typed(env, a[2], "allgatherv: counts");
    if (c.type != MPI_INT) throw ArgError{"allgatherv: counts must be an Int32Array"};
    if (s.type != r.type) throw ArgError{"allgatherv: send and receive buffers must have the same element type"};
    Op op = bufferOp(Kind::Allgatherv, s, str(env, a[3]));
    op.recv = r.data;
    const int* counts = static_cast<const int*>(c.data);
    int64_t total = 0;
    for (int64_t i = 0; i < c.count; i++) {
      op.counts.push_back(counts[i]);
      op.displs.push_back(int(total));
      total += counts[i];
      if (total > INT32_MAX) throw ArgError{"allgatherv: more than 2^31 elements in all; gather in pieces"};
    }
    if (total > r.count) throw ArgError{"allgatherv: receive buffer holds " + std::to_string(r.count) + " elements, counts need " + std::to_string(total)};
    return dispatch(env, flag(env, a[4]), {a[0], a[1]}, std::move(op));
  } catch (const ArgError& e) {
    return throwIt(env, e.msg);
  }
}

// bcast(buf, root, label, async)
napi_value Bcast(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 4, "bcast");
    Op op = bufferOp(Kind::Bcast, typed(env, a[0], "bcast: buffer"), str(env, a[2]));
    op.root = int(num(env, a[1], "bcast: root"));
    return dispatch(env, flag(env, a[3]), {a[0]}, std::move(op));
  } catch (const ArgError& e) {
    return throwIt(env, e.msg);
  }
}

// barrier(label, async)
napi_value Barrier(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 2, "barrier");
    return dispatch(env, flag(env, a[1]), {}, bufferOp(Kind::Barrier, Buf{}, str(env, a[0])));
  } catch (const ArgError& e) {
    return throwIt(env, e.msg);
  }
}

napi_value SetTimeout(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 1, "setTimeout");
    altclip_mpi::setTimeout(num(env, a[0], "timeout"));
    return nullptr;
  } catch (const ArgError& e) {
    return throwIt(env, e.msg);
  }
}

napi_value Abort(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 2, "abort");
    altclip_mpi::abortJob(str(env, a[0]), int(num(env, a[1], "code")));
  } catch (const ArgError& e) {
    return throwIt(env, e.msg);
  }
}

napi_value Finalize(napi_env env, napi_callback_info) {
  altclip_mpi::finalize();
  return nullptr;
}

napi_value Stats(napi_env env, napi_callback_info) {
  double secs = 0, bytes = 0;
  uint64_t ops = 0;
  altclip_mpi::stats(&secs, &bytes, &ops);
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_double(env, secs, &v);
  napi_set_named_property(env, o, "seconds", v);
  napi_create_double(env, bytes, &v);
  napi_set_named_property(env, o, "bytes", v);
  napi_create_double(env, double(ops), &v);
  napi_set_named_property(env, o, "ops", v);
  return o;
}

napi_value Module(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"init", nullptr, Init, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"allreduce", nullptr, Allreduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"allgatherv", nullptr, Allgatherv, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bcast", nullptr, Bcast, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"barrier", nullptr, Barrier, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setTimeout", nullptr, SetTimeout, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"abort", nullptr, Abort, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"finalize", nullptr, Finalize, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Module)
