// polyrpc._polyrpc: the thin native layer of the Python binding. It wraps the public C ABI
// (capi/include/polyrpc/*.h) one object per class and nothing more; everything idiomatic
// (grpcio-shaped channels, servers, asyncio) lives in the Python package above it.
//
// Rules this file follows:
//  - Only <polyrpc/polyrpc.h> is included: the binding must work against any libpolyrpc with the
//    same ABI.
//  - Every C call that can block runs with the GIL released.
//  - polyrpc_last_error() is read right after the failing call, in the same C++ function.
//  - Outgoing messages are wrapped, not copied: the bytes object is kept alive by a reference
//    that the buffer's free_fn drops (see ReleaseBytes for why that is deferred off I/O threads).
#include <polyrpc/polyrpc.h>
#include <pthread.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

// ---- Errors ------------------------------------------------------------------------------

PyObject* g_api_error = nullptr;         // base: polyrpc._polyrpc.ApiError(RuntimeError)
PyObject* g_invalid_argument = nullptr;  // ApiError + ValueError
PyObject* g_closed_error = nullptr;      // ApiError
PyObject* g_busy_error = nullptr;        // ApiError
PyObject* g_tls_error = nullptr;         // ApiError + ValueError (bad PEM is bad input)

struct ErrorAlreadySet {};

// Raises the Python exception for err with the thread's last error message. Never returns.
[[noreturn]] void Raise(polyrpc_error_t err, const char* what) {
  std::string msg = what;
  const char* detail = polyrpc_last_error();
  msg += ": ";
  msg += polyrpc_error_name(err);
  if (detail != nullptr && *detail != '\0') {
    msg += ": ";
    msg += detail;
  }
  PyObject* type = g_api_error;
  switch (err) {
    case POLYRPC_ERROR_INVALID_ARGUMENT:
      type = g_invalid_argument;
      break;
    case POLYRPC_ERROR_CLOSED:
      type = g_closed_error;
      break;
    case POLYRPC_ERROR_BUSY:
      type = g_busy_error;
      break;
    case POLYRPC_ERROR_TLS:
      type = g_tls_error;
      break;
    default:
      break;
  }
  py::object exc = py::reinterpret_steal<py::object>(
      PyObject_CallFunction(type, "si", msg.c_str(), static_cast<int>(err)));
  if (!exc) throw py::error_already_set();
  PyErr_SetObject(type, exc.ptr());
  throw py::error_already_set();
}

inline void Check(polyrpc_error_t err, const char* what) {
  if (err != POLYRPC_OK) Raise(err, what);
}

// ---- Zero-copy buffers -----------------------------------------------------------------
//
// free_fn of a wrapped buffer may run on an I/O thread. Taking the GIL there would stall the
// network loop behind whatever Python code holds it (up to the 5 ms switch interval, per
// message), and during interpreter shutdown PyGILState_Ensure can hang forever. So a thread
// that does not hold the GIL only queues the reference; the queue is drained by the next
// thread that enters this module with the GIL, and by a pending call scheduled on the first
// queued item (Py_AddPendingCall needs no GIL), so memory is returned promptly even when the
// program makes no further polyrpc calls.

std::mutex g_release_mu;
std::vector<PyObject*> g_release_queue;
bool g_release_scheduled = false;

void DrainReleases() {
  std::vector<PyObject*> todo;
  {
    std::lock_guard<std::mutex> lock(g_release_mu);
    if (g_release_queue.empty()) return;
    todo.swap(g_release_queue);
    g_release_scheduled = false;
  }
  for (PyObject* o : todo) Py_DECREF(o);
}

int DrainReleasesPending(void*) {
  DrainReleases();
  return 0;
}

bool InterpreterAlive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

void ReleaseBytes(void* user_data) {
  PyObject* obj = static_cast<PyObject*>(user_data);
  if (!InterpreterAlive()) return;  // the interpreter is going away: leaking is the safe choice
  if (PyGILState_Check()) {
    Py_DECREF(obj);
    return;
  }
  bool schedule = false;
  {
    std::lock_guard<std::mutex> lock(g_release_mu);
    g_release_queue.push_back(obj);
    if (!g_release_scheduled) {
      g_release_scheduled = true;
      schedule = true;
    }
  }
  if (schedule) Py_AddPendingCall(DrainReleasesPending, nullptr);
}

// Whether polyrpc_buffer_create_wrap calls free_fn exactly once, at the end. Checked once at
// import against the loaded library: a library that called it early would free the bytes object
// while the core still reads it, so in that case messages are copied instead.
std::atomic<int> g_probe_calls{0};
void ProbeFree(void*) { g_probe_calls.fetch_add(1); }
bool g_zero_copy = false;

bool ProbeWrap() {
  static const uint8_t byte = 0;
  polyrpc_buffer_t* b = nullptr;
  if (polyrpc_buffer_create_wrap(&byte, 1, ProbeFree, nullptr, &b) != POLYRPC_OK) return false;
  int before = g_probe_calls.load();
  polyrpc_buffer_destroy(b);
  int after = g_probe_calls.load();
  return before == 0 && after == 1;
}

// Owns one polyrpc_buffer_t reference.
struct Buffer {
  polyrpc_buffer_t* buf = nullptr;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { polyrpc_buffer_destroy(buf); }
};

// Wraps a bytes object (no copy) or copies any other buffer-protocol object. Needs the GIL.
void MakeBuffer(py::handle data, Buffer* out) {
  DrainReleases();
  PyObject* o = data.ptr();
  if (g_zero_copy && PyBytes_CheckExact(o)) {
    Py_INCREF(o);
    polyrpc_error_t err = polyrpc_buffer_create_wrap(
        reinterpret_cast<const uint8_t*>(PyBytes_AS_STRING(o)),
        static_cast<size_t>(PyBytes_GET_SIZE(o)), ReleaseBytes, o, &out->buf);
    if (err != POLYRPC_OK) {
      Py_DECREF(o);  // free_fn is not called when the wrap fails
      Raise(err, "polyrpc_buffer_create_wrap");
    }
    return;
  }
  if (PyObject_CheckBuffer(o) && !PyUnicode_Check(o)) {
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    polyrpc_error_t err = polyrpc_buffer_create_copy(static_cast<const uint8_t*>(view.buf),
                                                     static_cast<size_t>(view.len), &out->buf);
    PyBuffer_Release(&view);
    Check(err, "polyrpc_buffer_create_copy");
    return;
  }
  throw py::type_error(std::string("a message must be bytes after serialization, got ") +
                       Py_TYPE(o)->tp_name);
}

// Copies a received buffer into a new bytes object and destroys the buffer.
py::object BufferToBytes(polyrpc_buffer_t* buf) {
  if (buf == nullptr) return py::none();
  const uint8_t* data = nullptr;
  size_t len = 0;
  polyrpc_error_t err = polyrpc_buffer_data(buf, &data, &len);
  if (err != POLYRPC_OK) {
    polyrpc_buffer_destroy(buf);
    Raise(err, "polyrpc_buffer_data");
  }
  PyObject* bytes =
      PyBytes_FromStringAndSize(reinterpret_cast<const char*>(data), static_cast<Py_ssize_t>(len));
  polyrpc_buffer_destroy(buf);
  if (bytes == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(bytes);
}

// ---- Metadata ------------------------------------------------------------------------------

struct Metadata {
  polyrpc_metadata_t* md = nullptr;
  Metadata() = default;
  Metadata(const Metadata&) = delete;
  Metadata& operator=(const Metadata&) = delete;
  ~Metadata() { polyrpc_metadata_destroy(md); }
};

bool EndsWithBin(const char* key, size_t len) {
  return len >= 4 && std::memcmp(key + len - 4, "-bin", 4) == 0;
}

// Converts an iterable of (key, value) pairs into *out (left NULL for None). Keys are str;
// values str or bytes (bytes-like for "-bin" keys). The C library validates key and value.
void MakeMetadata(py::handle seq, Metadata* out) {
  if (seq.is_none()) return;
  Check(polyrpc_metadata_create(&out->md), "polyrpc_metadata_create");
  py::iterator it;
  try {
    it = py::iter(seq);
  } catch (py::error_already_set&) {
    throw py::type_error("metadata must be a sequence of (key, value) pairs");
  }
  for (py::handle item : it) {
    PyObject* o = item.ptr();
    if (!PyTuple_Check(o) && !PyList_Check(o)) {
      throw py::type_error(std::string("metadata entries must be (key, value) pairs, got ") +
                           Py_TYPE(o)->tp_name);
    }
    if (PySequence_Size(o) != 2)
      throw py::value_error("metadata entries must be (key, value) pairs");
    py::object key = py::reinterpret_steal<py::object>(PySequence_GetItem(o, 0));
    py::object value = py::reinterpret_steal<py::object>(PySequence_GetItem(o, 1));
    if (!PyUnicode_Check(key.ptr())) {
      throw py::type_error(std::string("metadata key must be str, got ") +
                           Py_TYPE(key.ptr())->tp_name);
    }
    Py_ssize_t key_len = 0;
    const char* key_str = PyUnicode_AsUTF8AndSize(key.ptr(), &key_len);
    if (key_str == nullptr) throw py::error_already_set();
    const char* data = nullptr;
    Py_ssize_t len = 0;
    Py_buffer view;
    bool have_view = false;
    if (PyUnicode_Check(value.ptr())) {
      data = PyUnicode_AsUTF8AndSize(value.ptr(), &len);
      if (data == nullptr) throw py::error_already_set();
    } else if (PyBytes_Check(value.ptr())) {
      data = PyBytes_AS_STRING(value.ptr());
      len = PyBytes_GET_SIZE(value.ptr());
    } else if (PyObject_CheckBuffer(value.ptr())) {
      if (PyObject_GetBuffer(value.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
      have_view = true;
      data = static_cast<const char*>(view.buf);
      len = view.len;
    } else {
      throw py::type_error(std::string("metadata value for '") + key_str +
                           "' must be str or bytes, got " + Py_TYPE(value.ptr())->tp_name);
    }
    polyrpc_error_t err = polyrpc_metadata_add(
        out->md, key_str, reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(len));
    if (have_view) PyBuffer_Release(&view);
    if (err != POLYRPC_OK) {
      std::string what = std::string("invalid metadata entry '") + key_str + "'";
      Raise(err, what.c_str());
    }
  }
}

// A tuple of (key, value) tuples: bytes values for "-bin" keys, str otherwise (like grpcio).
py::tuple MetadataToTuple(const polyrpc_metadata_t* md) {
  size_t n = md == nullptr ? 0 : polyrpc_metadata_count(md);
  py::tuple result(n);
  for (size_t i = 0; i < n; ++i) {
    const char* key = nullptr;
    const uint8_t* value = nullptr;
    size_t len = 0;
    Check(polyrpc_metadata_get(md, i, &key, &value, &len), "polyrpc_metadata_get");
    size_t key_len = std::strlen(key);
    py::object v;
    if (EndsWithBin(key, key_len)) {
      v = py::bytes(reinterpret_cast<const char*>(value), len);
    } else {
      // Non-binary values are printable ASCII on the wire; latin-1 never fails.
      v = py::reinterpret_steal<py::object>(
          PyUnicode_DecodeLatin1(reinterpret_cast<const char*>(value), len, nullptr));
      if (!v) throw py::error_already_set();
    }
    result[i] = py::make_tuple(py::str(key, key_len), v);
  }
  return result;
}

// ---- Options -----------------------------------------------------------------------------

struct Options {
  polyrpc_options_t* opts = nullptr;
  ~Options() { polyrpc_options_destroy(opts); }
};

void MakeOptions(py::handle seq, Options* out) {
  if (seq.is_none()) return;
  Check(polyrpc_options_create(&out->opts), "polyrpc_options_create");
  for (py::handle item : seq) {
    if (!PyTuple_Check(item.ptr()) || PyTuple_GET_SIZE(item.ptr()) != 2) {
      throw py::type_error("options must be a sequence of (name, value) tuples");
    }
    py::handle key = PyTuple_GET_ITEM(item.ptr(), 0);
    py::handle value = PyTuple_GET_ITEM(item.ptr(), 1);
    if (!PyUnicode_Check(key.ptr())) throw py::type_error("option names must be str");
    std::string k = key.cast<std::string>();
    polyrpc_error_t err;
    if (PyBool_Check(value.ptr()) || PyLong_Check(value.ptr())) {
      err = polyrpc_options_set_int(out->opts, k.c_str(), value.cast<int64_t>());
    } else if (PyUnicode_Check(value.ptr())) {
      err = polyrpc_options_set_string(out->opts, k.c_str(), value.cast<std::string>().c_str());
    } else {
      throw py::type_error("option '" + k + "' must be int or str, got " +
                           Py_TYPE(value.ptr())->tp_name);
    }
    if (err != POLYRPC_OK) Raise(err, ("option '" + k + "'").c_str());
  }
}

// ---- Completion plumbing -----------------------------------------------------------------

// The C tag of every operation started on a Python-visible queue: the Python object to hand
// back, plus the call slot of polyrpc_server_request_call. A compound tag (remaining > 1) is
// shared by several operations and surfaces once, when the last of them completes, with
// success only if all succeeded: an asyncio unary call then costs one event instead of three.
struct Tag {
  PyObject* obj;  // owned reference
  polyrpc_call_t* call = nullptr;
  bool request_call = false;
  std::atomic<int> remaining{1};
  std::atomic<bool> failed{false};
};

Tag* NewTag(py::handle obj) {
  Tag* t = new Tag{obj.ptr()};
  Py_INCREF(obj.ptr());
  return t;
}

void FreeTag(Tag* t) {
  Py_DECREF(t->obj);
  delete t;
}

// Runs f with the GIL released. Not py::gil_scoped_release: when a daemon thread wakes up
// during interpreter finalization, re-acquiring the GIL ends the thread with a forced unwind
// (pthread_exit), and a forced unwind out of a destructor (implicitly noexcept) calls
// std::terminate. Here the re-acquisition happens in a plain function body, so the unwind
// travels up to pybind11's dispatcher, which lets it through. f must not throw.
template <typename F>
void WithoutGil(F&& f) {
  PyThreadState* state = PyEval_SaveThread();
  f();
  PyEval_RestoreThread(state);
}

// Blocking operations wait on a private callback queue: the callback only flips a flag under
// a mutex (it must not block), and the waiting thread sleeps with the GIL released. This gives
// every blocking operation the exact success flag of its completion.
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int success = 0;
};

void WaiterDone(void* tag, int success, void*) {
  Waiter* w = static_cast<Waiter*>(tag);
  std::lock_guard<std::mutex> lock(w->mu);  // notify under the lock: w dies once done is seen
  w->success = success;
  w->done = true;
  w->cv.notify_one();
}

std::mutex g_waiter_cq_mu;
polyrpc_cq_t* g_waiter_cq = nullptr;
pid_t g_waiter_cq_pid = 0;
polyrpc_cq_t* g_discard_cq = nullptr;
pid_t g_discard_cq_pid = 0;

void DiscardDone(void*, int, void*) {}

// fork() copies a mutex in whatever state another thread left it; I/O threads take
// g_release_mu at any time. Holding both across fork() makes the child's copies consistent.
void BeforeFork() {
  g_waiter_cq_mu.lock();
  g_release_mu.lock();
}
void AfterFork() {
  g_release_mu.unlock();
  g_waiter_cq_mu.unlock();
}

// The process's callback queue; re-created in a forked child (the parent's objects are
// unusable there, by the C ABI's fork rule).
// One callback queue per process: created on first use, and again in a forked child (a
// parent's queue is intentionally leaked there). Caller holds g_waiter_cq_mu.
polyrpc_cq_t* ProcessCallbackCq(polyrpc_completion_fn done, polyrpc_cq_t** cq, pid_t* owner) {
  pid_t pid = getpid();
  if (*cq == nullptr || *owner != pid) {
    polyrpc_cq_t* fresh = nullptr;
    Check(polyrpc_cq_create_callback(done, nullptr, nullptr, &fresh),
          "polyrpc_cq_create_callback");
    *cq = fresh;
    *owner = pid;
  }
  return *cq;
}

polyrpc_cq_t* WaiterCq() {
  std::lock_guard<std::mutex> lock(g_waiter_cq_mu);
  return ProcessCallbackCq(WaiterDone, &g_waiter_cq, &g_waiter_cq_pid);
}

// A callback queue whose completions nobody waits for (tags are NULL): operations whose outcome
// the caller does not need, like the response and status of a finished unary handler. Saves the
// handler thread a sleep and a wake-up per operation.
polyrpc_cq_t* DiscardCq() {
  std::lock_guard<std::mutex> lock(g_waiter_cq_mu);
  return ProcessCallbackCq(DiscardDone, &g_discard_cq, &g_discard_cq_pid);
}

// Runs start(cq, tag) and waits for its completion with the GIL released. Returns success.
template <typename Start>
bool RunBlocking(const char* what, Start&& start) {
  polyrpc_cq_t* cq = WaiterCq();
  Waiter w;
  polyrpc_error_t err = start(cq, &w);
  if (err != POLYRPC_OK) Raise(err, what);
  WithoutGil([&] {
    std::unique_lock<std::mutex> lock(w.mu);
    w.cv.wait(lock, [&] { return w.done; });
  });
  return w.success != 0;
}

class CompletionQueue {
 public:
  CompletionQueue() { Check(polyrpc_cq_create(&cq_), "polyrpc_cq_create"); }
  ~CompletionQueue() { polyrpc_cq_destroy(cq_); }

  polyrpc_cq_t* get() {
    if (cq_ == nullptr) throw py::value_error("completion queue is closed");
    return cq_;
  }

  // None on timeout; else (type, success, tag object, new server call or None).
  py::object Next(int timeout_ms);
  int Fd() {
    int fd = -1;
    Check(polyrpc_cq_fd(get(), &fd), "polyrpc_cq_fd");
    return fd;
  }
  void Shutdown() { Check(polyrpc_cq_shutdown(get()), "polyrpc_cq_shutdown"); }
  void Close() {
    polyrpc_cq_destroy(cq_);
    cq_ = nullptr;
  }

 private:
  polyrpc_cq_t* cq_ = nullptr;
};

// Resolves (cq, tag) arguments of an asynchronous operation: cq None means "blocking".
polyrpc_cq_t* CqOf(py::handle cq) {
  if (cq.is_none()) return nullptr;
  return cq.cast<CompletionQueue&>().get();
}

// ---- Credentials ---------------------------------------------------------------------------

const char* OptStr(const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; }

struct ChannelCredentials {
  polyrpc_channel_credentials_t* creds = nullptr;
  ~ChannelCredentials() { polyrpc_channel_credentials_destroy(creds); }
};
struct ServerCredentials {
  polyrpc_server_credentials_t* creds = nullptr;
  ~ServerCredentials() { polyrpc_server_credentials_destroy(creds); }
};
struct CallCredentials {
  polyrpc_call_credentials_t* creds = nullptr;
  ~CallCredentials() { polyrpc_call_credentials_destroy(creds); }
};

// ---- Calls --------------------------------------------------------------------------------

class Call {
 public:
  explicit Call(polyrpc_call_t* call) : call_(call) {}
  ~Call() { polyrpc_call_destroy(call_); }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  polyrpc_call_t* get() {
    if (call_ == nullptr) throw py::value_error("call is closed");
    return call_;
  }

  // Starts an operation on cq (returns None) or runs it blocking (returns the success flag).
  template <typename Op>
  py::object Run(const char* what, py::handle cq, py::handle tag, Op&& op) {
    polyrpc_cq_t* q = CqOf(cq);
    if (q == nullptr) {
      return py::bool_(RunBlocking(what, [&](polyrpc_cq_t* c, void* t) { return op(c, t); }));
    }
    Tag* t = NewTag(tag);
    polyrpc_error_t err;
    try {
      err = op(q, t);  // may throw (a closed call): the tag must not leak then
    } catch (...) {
      FreeTag(t);
      throw;
    }
    if (err != POLYRPC_OK) {
      FreeTag(t);
      Raise(err, what);
    }
    return py::none();
  }

  void SetCompression(const std::string& algo) {
    Check(polyrpc_call_set_compression(get(), algo.c_str()), "polyrpc_call_set_compression");
  }
  void SetAuthority(const std::string& authority) {
    Check(polyrpc_call_set_authority(get(), authority.c_str()), "polyrpc_call_set_authority");
  }
  void SetCredentials(CallCredentials& creds) {
    Check(polyrpc_call_set_credentials(get(), creds.creds), "polyrpc_call_set_credentials");
  }
  void SetEncodingLabelForTesting(const std::string& name) {
    Check(polyrpc_call_set_encoding_label_for_testing(get(), name.c_str()),
          "polyrpc_call_set_encoding_label_for_testing");
  }

  py::object Start(py::handle cq, py::handle tag) {
    return Run("polyrpc_call_start", cq, tag,
               [&](polyrpc_cq_t* q, void* t) { return polyrpc_call_start(get(), q, t); });
  }
  py::object SendMessage(py::handle data, uint32_t flags, py::handle cq, py::handle tag) {
    Buffer b;
    MakeBuffer(data, &b);
    return Run("polyrpc_call_send_message", cq, tag, [&](polyrpc_cq_t* q, void* t) {
      return polyrpc_call_send_message(get(), b.buf, flags, q, t);
    });
  }
  py::object CloseSend(py::handle cq, py::handle tag) {
    return Run("polyrpc_call_close_send", cq, tag,
               [&](polyrpc_cq_t* q, void* t) { return polyrpc_call_close_send(get(), q, t); });
  }
  py::object RecvInitialMetadata(py::handle cq, py::handle tag) {
    return Run("polyrpc_call_recv_initial_metadata", cq, tag, [&](polyrpc_cq_t* q, void* t) {
      return polyrpc_call_recv_initial_metadata(get(), q, t);
    });
  }
  // Blocking: the message as bytes, or None at the end of the stream / on failure.
  py::object RecvMessage(py::handle cq, py::handle tag) {
    py::object r = Run("polyrpc_call_recv_message", cq, tag, [&](polyrpc_cq_t* q, void* t) {
      return polyrpc_call_recv_message(get(), q, t);
    });
    if (r.is_none()) return r;
    if (!r.cast<bool>()) return py::none();
    return TakeMessage();
  }
  py::object TakeMessage() {
    polyrpc_buffer_t* buf = nullptr;
    int compressed = 0;
    Check(polyrpc_call_take_message(get(), &buf, &compressed), "polyrpc_call_take_message");
    last_compressed_ = compressed != 0;
    return BufferToBytes(buf);
  }
  bool LastMessageCompressed() const { return last_compressed_; }
  // Blocking: (code, details). Asynchronous: None.
  py::object RecvStatus(py::handle cq, py::handle tag) {
    py::object r = Run("polyrpc_call_recv_status", cq, tag, [&](polyrpc_cq_t* q, void* t) {
      return polyrpc_call_recv_status(get(), q, t);
    });
    if (r.is_none()) return r;
    return Status();
  }
  py::tuple Status() {
    int code = 0;
    const char* message = nullptr;
    Check(polyrpc_call_status(get(), &code, &message), "polyrpc_call_status");
    return py::make_tuple(code, py::str(message ? message : ""));
  }
  py::tuple InitialMetadata() { return MetadataToTuple(polyrpc_call_initial_metadata(get())); }
  py::tuple TrailingMetadata() { return MetadataToTuple(polyrpc_call_trailing_metadata(get())); }
  py::tuple RequestMetadata() { return MetadataToTuple(polyrpc_call_request_metadata(get())); }
  void Cancel() {
    if (call_ != nullptr) Check(polyrpc_call_cancel(call_), "polyrpc_call_cancel");
  }
  std::string Peer() {
    const char* p = polyrpc_call_peer(get());
    return p ? p : "";
  }
  py::object Method() {
    const char* m = polyrpc_call_method(get());
    if (m == nullptr) return py::none();
    return py::str(m);
  }
  py::object Authority() {
    const char* a = polyrpc_call_authority(get());
    if (a == nullptr) return py::none();
    return py::str(a);
  }
  int64_t TimeRemainingMs() {
    int64_t ms = -1;
    Check(polyrpc_call_time_remaining_ms(get(), &ms), "polyrpc_call_time_remaining_ms");
    return ms;
  }
  void SetResponseCompression(const std::string& algo) {
    Check(polyrpc_call_set_response_compression(get(), algo.c_str()),
          "polyrpc_call_set_response_compression");
  }
  py::object SendInitialMetadata(py::handle md, py::handle cq, py::handle tag) {
    Metadata m;
    MakeMetadata(md, &m);
    return Run("polyrpc_call_send_initial_metadata", cq, tag, [&](polyrpc_cq_t* q, void* t) {
      return polyrpc_call_send_initial_metadata(get(), m.md, q, t);
    });
  }
  py::object SendStatus(int code, const std::string& details, py::handle trailers, py::handle cq,
                        py::handle tag) {
    CheckCode(code);
    Metadata m;
    MakeMetadata(trailers, &m);
    return Run("polyrpc_call_send_status", cq, tag, [&](polyrpc_cq_t* q, void* t) {
      return polyrpc_call_send_status(get(), code, details.c_str(), m.md, q, t);
    });
  }
  // Server: starts sending the response (if not None) and the status, and returns without
  // waiting for either (their completions go to a discarding queue): the outcome changes
  // nothing for the handler, and once the status is started, releasing the handle no longer
  // cancels the call. The call keeps its own references to the message and the trailers.
  void FinishUnary(py::handle response, uint32_t flags, int code, const std::string& details,
                   py::handle trailers) {
    CheckCode(code);
    Buffer b;
    if (!response.is_none()) MakeBuffer(response, &b);
    Metadata m;
    MakeMetadata(trailers, &m);
    polyrpc_cq_t* cq = DiscardCq();
    polyrpc_call_t* call = get();
    if (b.buf != nullptr) {
      Check(polyrpc_call_send_message(call, b.buf, flags, cq, nullptr),
            "polyrpc_call_send_message");
    }
    Check(polyrpc_call_send_status(call, code, details.c_str(), m.md, cq, nullptr),
          "polyrpc_call_send_status");
  }
  // Client: the whole unary exchange as one operation on cq: sends request (half-closing),
  // receives the reply and the status; tag surfaces once, after the status. Then status() and
  // take_message() give the outcome.
  void StartUnary(py::handle request, uint32_t flags, CompletionQueue& cq, py::handle tag) {
    Buffer b;
    MakeBuffer(request, &b);
    polyrpc_cq_t* q = cq.get();
    polyrpc_call_t* call = get();
    Tag* t = NewTag(tag);
    t->remaining.store(3);
    // Each started operation owns one count; one that fails to start gives its count back.
    int started = 0;
    polyrpc_error_t err = polyrpc_call_send_message(call, b.buf, flags | POLYRPC_WRITE_LAST, q, t);
    const char* what = "polyrpc_call_send_message";
    if (err == POLYRPC_OK) {
      ++started;
      err = polyrpc_call_recv_message(call, q, t);
      what = "polyrpc_call_recv_message";
    }
    if (err == POLYRPC_OK) {
      ++started;
      err = polyrpc_call_recv_status(call, q, t);
      what = "polyrpc_call_recv_status";
    }
    if (err == POLYRPC_OK) return;
    if (started == 0) {
      FreeTag(t);
      Raise(err, what);
    }
    // Some operations are under way: they complete (the call is cancelled so that they do so
    // promptly) and the tag surfaces with success=0 after them.
    t->failed.store(true);
    polyrpc_call_cancel(call);
    if (t->remaining.fetch_sub(3 - started) == 3 - started) {
      // Everything started has already completed and been swallowed: nothing will surface.
      FreeTag(t);
    }
    Raise(err, what);
  }
  void SetLastMessageCompressed(bool c) { last_compressed_ = c; }
  py::object RecvClose(py::handle cq, py::handle tag) {
    return Run("polyrpc_call_recv_close", cq, tag,
               [&](polyrpc_cq_t* q, void* t) { return polyrpc_call_recv_close(get(), q, t); });
  }
  bool IsCancelled() {
    int cancelled = 0;
    Check(polyrpc_call_is_cancelled(get(), &cancelled), "polyrpc_call_is_cancelled");
    return cancelled != 0;
  }
  void ExpectOneRequest() {
    Check(polyrpc_call_expect_one_request(get()), "polyrpc_call_expect_one_request");
  }
  void CloseConnectionForTesting() {
    Check(polyrpc_call_close_connection_for_testing(get()),
          "polyrpc_call_close_connection_for_testing");
  }
  void Close() {
    polyrpc_call_destroy(call_);
    call_ = nullptr;
  }

  static void CheckCode(int code) {
    if (code < 0 || code > 16) throw py::value_error("status code must be in 0..16");
  }

 private:
  polyrpc_call_t* call_ = nullptr;
  bool last_compressed_ = false;
};

py::object CompletionQueue::Next(int timeout_ms) {
  DrainReleases();
  polyrpc_event_t ev{};
  ev.struct_size = sizeof(ev);
  polyrpc_error_t err;
  polyrpc_cq_t* cq = get();
  Tag* t = nullptr;
  for (;;) {
    if (timeout_ms == 0) {
      err = polyrpc_cq_next(cq, 0, &ev);  // a poll: not worth a GIL round trip
    } else {
      WithoutGil([&] { err = polyrpc_cq_next(cq, timeout_ms, &ev); });
    }
    Check(err, "polyrpc_cq_next");
    if (ev.type == POLYRPC_EVENT_NONE) return py::none();
    if (ev.type == POLYRPC_EVENT_SHUTDOWN) {
      return py::make_tuple(2, false, py::none(), py::none());
    }
    t = static_cast<Tag*>(ev.tag);
    if (!ev.success) t->failed.store(true);
    // Not the last operation of a compound tag: swallow it and wait for the next event (the
    // timeout restarts, which only lengthens a wait that already saw progress).
    if (t->remaining.fetch_sub(1) > 1) continue;
    if (t->failed.load()) ev.success = 0;
    break;
  }
  py::object obj = py::reinterpret_steal<py::object>(t->obj);
  py::object call = py::none();
  if (t->request_call && ev.success && t->call != nullptr) {
    call = py::cast(new Call(t->call), py::return_value_policy::take_ownership);
  } else if (t->call != nullptr) {
    polyrpc_call_destroy(t->call);
  }
  delete t;
  return py::make_tuple(1, ev.success != 0, obj, call);
}

// ---- Channels ----------------------------------------------------------------------------

class Channel {
 public:
  Channel(const std::string& target, ChannelCredentials& creds, py::handle options) {
    Options o;
    MakeOptions(options, &o);
    polyrpc_error_t err;
    WithoutGil([&] { err = polyrpc_channel_create(target.c_str(), creds.creds, o.opts, &ch_); });
    if (err != POLYRPC_OK) Raise(err, ("cannot create a channel to '" + target + "'").c_str());
  }
  // Destructors keep the GIL: no libpolyrpc thread ever waits for it (see ReleaseBytes), so
  // destroying cannot deadlock, and a destructor must not be left by a forced unwind.
  ~Channel() { polyrpc_channel_destroy(ch_); }

  polyrpc_channel_t* get() {
    if (ch_ == nullptr) throw py::value_error("channel is closed");
    return ch_;
  }

  polyrpc_call_t* NewCall(const std::string& method, int64_t timeout_ms, py::handle metadata,
                          uint32_t flags) {
    Metadata m;
    MakeMetadata(metadata, &m);
    polyrpc_call_t* call = nullptr;
    polyrpc_error_t err =
        polyrpc_call_create(get(), method.c_str(), timeout_ms, m.md, flags, &call);
    if (err != POLYRPC_OK) Raise(err, "polyrpc_call_create");
    return call;
  }

  Call* CreateCall(const std::string& method, int64_t timeout_ms, py::handle metadata,
                   uint32_t flags) {
    return new Call(NewCall(method, timeout_ms, metadata, flags));
  }

  // The whole synchronous unary call: (code, response bytes or None, Call). One C call, with
  // the GIL released while it runs.
  py::tuple Unary(const std::string& method, int64_t timeout_ms, py::handle metadata,
                  uint32_t flags, py::handle request, py::handle compression, py::handle creds,
                  py::handle authority) {
    Buffer req;
    MakeBuffer(request, &req);
    auto call = std::make_unique<Call>(NewCall(method, timeout_ms, metadata, flags));
    if (!compression.is_none()) call->SetCompression(compression.cast<std::string>());
    if (!creds.is_none()) call->SetCredentials(creds.cast<CallCredentials&>());
    if (!authority.is_none()) call->SetAuthority(authority.cast<std::string>());
    polyrpc_buffer_t* response = nullptr;
    polyrpc_error_t err;
    WithoutGil([&] { err = polyrpc_call_unary(call->get(), req.buf, &response); });
    if (err != POLYRPC_OK) Raise(err, "polyrpc_call_unary");
    int code = 0;
    Check(polyrpc_call_status(call->get(), &code, nullptr), "polyrpc_call_status");
    py::object resp = BufferToBytes(response);
    return py::make_tuple(code, resp,
                          py::cast(call.release(), py::return_value_policy::take_ownership));
  }

  int GetState(bool try_to_connect) {
    polyrpc_connectivity_state_t state = POLYRPC_CHANNEL_IDLE;
    Check(polyrpc_channel_get_state(get(), try_to_connect ? 1 : 0, &state),
          "polyrpc_channel_get_state");
    return static_cast<int>(state);
  }
  // False when timeout_ms passed without a change.
  bool WaitForStateChange(int last, int64_t timeout_ms) {
    polyrpc_channel_t* ch = get();
    polyrpc_error_t err;
    WithoutGil([&] {
      err = polyrpc_channel_wait_for_state_change(
          ch, static_cast<polyrpc_connectivity_state_t>(last), timeout_ms);
    });
    if (err == POLYRPC_ERROR_TIMEOUT) return false;
    Check(err, "polyrpc_channel_wait_for_state_change");
    return true;
  }
  void Close() {
    if (ch_ == nullptr) return;
    polyrpc_channel_t* ch = ch_;
    WithoutGil([&] { polyrpc_channel_close(ch); });
  }

 private:
  polyrpc_channel_t* ch_ = nullptr;
};

// ---- Servers -----------------------------------------------------------------------------

class Server {
 public:
  explicit Server(py::handle options) {
    Options o;
    MakeOptions(options, &o);
    Check(polyrpc_server_create(o.opts, &server_), "polyrpc_server_create");
  }
  ~Server() { polyrpc_server_destroy(server_); }
  polyrpc_server_t* get() {
    if (server_ == nullptr) throw py::value_error("server is closed");
    return server_;
  }
  int AddListener(const std::string& address, ServerCredentials& creds) {
    int port = 0;
    polyrpc_error_t err;
    WithoutGil(
        [&] { err = polyrpc_server_add_listener(get(), address.c_str(), creds.creds, &port); });
    if (err != POLYRPC_OK) Raise(err, ("cannot listen on '" + address + "'").c_str());
    return port;
  }
  void RegisterMethod(const std::string& path) {
    Check(polyrpc_server_register_method(get(), path.c_str()), "polyrpc_server_register_method");
  }
  void EnableGeneric() {
    Check(polyrpc_server_enable_generic(get()), "polyrpc_server_enable_generic");
  }
  void EnableHealth() {
    Check(polyrpc_server_enable_health(get()), "polyrpc_server_enable_health");
  }
  void SetHealthStatus(const std::string& service, int status) {
    Check(polyrpc_server_set_health_status(get(), service.c_str(), status),
          "polyrpc_server_set_health_status");
  }
  // file_set: a serialized FileDescriptorSet (None: only the built-in services described).
  void EnableReflection(py::object file_set) {
    polyrpc_descriptor_pool_t* pool = nullptr;
    if (!file_set.is_none()) {
      std::string bytes = file_set.cast<std::string>();
      Check(polyrpc_descriptor_pool_create(&pool), "polyrpc_descriptor_pool_create");
      polyrpc_error_t err = polyrpc_descriptor_pool_add_file_set(
          pool, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      if (err != POLYRPC_OK) {
        std::string msg = polyrpc_last_error();
        polyrpc_descriptor_pool_destroy(pool);
        throw py::value_error(msg);
      }
    }
    // The server keeps what it needs of the pool: the handle goes when this returns.
    std::unique_ptr<polyrpc_descriptor_pool_t, void (*)(polyrpc_descriptor_pool_t*)> guard(
        pool, polyrpc_descriptor_pool_destroy);
    polyrpc_server_t* s = get();
    Check(polyrpc_server_enable_reflection(s, pool), "polyrpc_server_enable_reflection");
  }
  void Start() {
    polyrpc_server_t* s = get();
    polyrpc_error_t err;
    WithoutGil([&] { err = polyrpc_server_start(s); });
    Check(err, "polyrpc_server_start");
  }
  // Queue form: the completion carries the new Call as the 4th item of CompletionQueue.next().
  void RequestCall(CompletionQueue& cq, py::handle tag) {
    polyrpc_server_t* server = get();  // may throw: before the tag exists
    polyrpc_cq_t* q = cq.get();
    Tag* t = NewTag(tag);
    t->request_call = true;
    polyrpc_error_t err = polyrpc_server_request_call(server, &t->call, q, t);
    if (err != POLYRPC_OK) {
      FreeTag(t);
      Raise(err, "polyrpc_server_request_call");
    }
  }
  // Blocking form: the next Call, or None once the server shuts down.
  py::object RequestCallBlocking() {
    polyrpc_call_t* call = nullptr;
    bool ok = RunBlocking("polyrpc_server_request_call", [&](polyrpc_cq_t* q, void* t) {
      return polyrpc_server_request_call(get(), &call, q, t);
    });
    if (!ok || call == nullptr) {
      polyrpc_call_destroy(call);
      return py::none();
    }
    return py::cast(new Call(call), py::return_value_policy::take_ownership);
  }
  void Shutdown(int64_t timeout_ms) {
    polyrpc_server_t* s = get();
    polyrpc_error_t err;
    WithoutGil([&] { err = polyrpc_server_shutdown(s, timeout_ms); });
    Check(err, "polyrpc_server_shutdown");
  }

 private:
  polyrpc_server_t* server_ = nullptr;
};

// ---- Incoming calls for handler threads ---------------------------------------------------
//
// The thread-pool server's source of calls. Handler threads block in Next() (GIL released)
// and get the next call straight from the I/O thread's completion, with no dispatcher thread in
// between. For methods whose request is a single message (prefetch paths), the request is
// received before the call is handed out, so a unary call costs one wake-up of one handler
// thread. A fixed number of request_call operations stays armed; each call taken re-arms one,
// so the core keeps unrequested calls in its own queue (no unbounded queue here).
class IncomingCalls {
 public:
  IncomingCalls(Server& server, const std::vector<std::string>& prefetch_paths, int depth)
      : state_(new State) {
    state_->server = server.get();
    state_->prefetch.insert(prefetch_paths.begin(), prefetch_paths.end());
    Check(polyrpc_cq_create_callback(OnEvent, nullptr, nullptr, &state_->cq),
          "polyrpc_cq_create_callback");
    for (int i = 0; i < depth; ++i) Arm(state_);
  }
  // The state is freed only once nothing can complete into it any more; otherwise (a server
  // released while still running, or a parent's object in a fork child) it is leaked on purpose.
  ~IncomingCalls() {
    State* st = state_;
    bool quiet;
    {
      std::lock_guard<std::mutex> lock(st->mu);
      quiet = st->over && st->pending == 0 && st->pid == getpid();
    }
    if (!quiet) return;
    polyrpc_cq_destroy(st->cq);
    for (Slot* s : st->ready) FreeSlot(s);
    delete st;
  }

  // Waits up to timeout_ms (< 0: forever) for a call. Returns None on timeout, False once the
  // server shut down and every call it delivered was handed out, else (call, method, prefetched,
  // request): prefetched tells whether request (bytes, or None when the client sent no
  // message) was already received.
  py::object Next(int timeout_ms) {
    DrainReleases();
    State* st = state_;
    Slot* s = nullptr;
    bool over = false;
    {
      // Under load a call is usually waiting: take it without a GIL round trip.
      std::lock_guard<std::mutex> lock(st->mu);
      if (!st->ready.empty()) {
        s = st->ready.front();
        st->ready.pop_front();
      }
    }
    if (s == nullptr && timeout_ms != 0) {
      WithoutGil([&] {
        std::unique_lock<std::mutex> lock(st->mu);
        uint64_t interrupts = st->interrupts;
        auto ready = [&] {
          return !st->ready.empty() || (st->over && st->pending == 0) ||
                 st->interrupts != interrupts;
        };
        if (timeout_ms < 0) {
          st->cv.wait(lock, ready);
        } else {
          st->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
        }
        if (!st->ready.empty()) {
          s = st->ready.front();
          st->ready.pop_front();
        }
      });
    }
    if (s == nullptr) {
      std::lock_guard<std::mutex> lock(st->mu);
      over = st->over && st->pending == 0 && st->ready.empty();
      return over ? py::object(py::bool_(false)) : py::object(py::none());
    }
    Arm(st);
    std::unique_ptr<Slot, void (*)(Slot*)> owned(s, FreeSlot);
    const char* m = polyrpc_call_method(s->call);
    py::str method(m != nullptr ? m : "");
    py::object data = py::none();
    if (s->msg != nullptr) {
      polyrpc_buffer_t* msg = s->msg;
      s->msg = nullptr;
      data = BufferToBytes(msg);
    }
    auto* call = new Call(s->call);
    s->call = nullptr;
    call->SetLastMessageCompressed(s->compressed != 0);
    py::object pycall = py::cast(call, py::return_value_policy::take_ownership);
    return py::make_tuple(pycall, method, py::bool_(s->recv), data);
  }
  // Makes every Next() waiting now return (None unless a call is ready).
  void Interrupt() {
    State* st = state_;
    std::lock_guard<std::mutex> lock(st->mu);
    ++st->interrupts;
    st->cv.notify_all();
  }

 private:
  struct State;
  struct Slot {
    State* owner;
    polyrpc_call_t* call = nullptr;
    bool recv = false;  // the request_call completed; this is the request's recv_message
    polyrpc_buffer_t* msg = nullptr;
    int compressed = 0;
  };
  struct State {
    polyrpc_server_t* server = nullptr;
    polyrpc_cq_t* cq = nullptr;
    std::unordered_set<std::string> prefetch;
    pid_t pid = getpid();
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Slot*> ready;
    uint64_t interrupts = 0;
    int pending = 0;    // slots with an operation under way
    bool over = false;  // a request_call failed: the server is shutting down
  };

  static void FreeSlot(Slot* s) {
    polyrpc_buffer_destroy(s->msg);
    polyrpc_call_destroy(s->call);
    delete s;
  }

  // Starts one request_call. Needs no GIL; its completion may run OnEvent before it returns.
  static void Arm(State* st) {
    Slot* s = new Slot{st};
    {
      std::lock_guard<std::mutex> lock(st->mu);
      if (st->over) {
        delete s;
        return;
      }
      ++st->pending;
    }
    if (polyrpc_server_request_call(st->server, &s->call, st->cq, s) != POLYRPC_OK) {
      delete s;
      Finish(st, nullptr, true);
    }
  }

  // A slot's operation is over: hand the slot out (s != NULL) and/or note the shutdown.
  static void Finish(State* st, Slot* s, bool over) {
    std::lock_guard<std::mutex> lock(st->mu);
    --st->pending;
    if (over) st->over = true;
    if (s != nullptr) st->ready.push_back(s);
    // Notify under the lock: a waiter that sees "over" may free st right after.
    if (over || st->pending == 0) {
      st->cv.notify_all();
    } else {
      st->cv.notify_one();
    }
  }

  // Runs on an I/O thread (or inline in Arm/recv): never blocks, never touches Python.
  static void OnEvent(void* tag, int success, void*) {
    Slot* s = static_cast<Slot*>(tag);
    State* st = s->owner;
    if (s->recv) {
      if (success) polyrpc_call_take_message(s->call, &s->msg, &s->compressed);
      Finish(st, s, false);
      return;
    }
    if (!success || s->call == nullptr) {
      polyrpc_call_destroy(s->call);
      delete s;
      Finish(st, nullptr, true);
      return;
    }
    const char* m = polyrpc_call_method(s->call);
    if (m != nullptr && st->prefetch.count(m) != 0) {
      // One request message: none, or a second, is UNIMPLEMENTED (statuscodes.md).
      polyrpc_call_expect_one_request(s->call);
      s->recv = true;
      // May complete inline (the message is often there already): s belongs to OnEvent then.
      if (polyrpc_call_recv_message(s->call, st->cq, s) == POLYRPC_OK) return;
      s->recv = false;  // handed out unreceived: the handler thread's own recv reports the error
    }
    Finish(st, s, false);
  }

  State* state_;
};

PyObject* NewException(py::module_& m, const char* name, PyObject* bases, const char* doc) {
  std::string full = std::string("polyrpc._polyrpc.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(full.c_str(), doc, bases, nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(type));
  return type;
}

}  // namespace

PYBIND11_MODULE(_polyrpc, m) {
  pthread_atfork(BeforeFork, AfterFork, AfterFork);
  m.doc() = "Native layer of polyrpc: one class per object of the libpolyrpc C ABI.";

  g_api_error = NewException(m, "ApiError", PyExc_RuntimeError,
                             "Misuse of the C API or a failed resource (args: message, code).");
  py::tuple inval_bases = py::make_tuple(py::handle(g_api_error), py::handle(PyExc_ValueError));
  g_invalid_argument = NewException(m, "InvalidArgumentError", inval_bases.ptr(),
                                    "An argument was rejected by libpolyrpc.");
  g_closed_error =
      NewException(m, "ClosedError", g_api_error,
                   "The object was closed, shut down or belongs to the parent of a fork.");
  g_busy_error = NewException(m, "BusyError", g_api_error,
                              "An operation of the same kind is already pending on the call.");
  py::tuple tls_bases = py::make_tuple(py::handle(g_api_error), py::handle(PyExc_ValueError));
  g_tls_error =
      NewException(m, "TlsError", tls_bases.ptr(), "Bad certificate, key or TLS configuration.");

  g_zero_copy = ProbeWrap();
  m.attr("ZERO_COPY_SEND") = g_zero_copy;
  m.def("version", [] { return std::string(polyrpc_version()); });
  // Observability (polyrpc/observability.h): metrics, the metrics endpoint, log level, traces.
  m.def("metrics_text", [] {
    polyrpc_buffer_t* b = nullptr;
    Check(polyrpc_metrics_text(&b), "polyrpc_metrics_text");
    const uint8_t* d = nullptr;
    size_t n = 0;
    polyrpc_buffer_data(b, &d, &n);
    std::string text(reinterpret_cast<const char*>(d), n);
    polyrpc_buffer_destroy(b);
    return text;
  });
  m.def("metric", [](const std::string& name) -> py::object {
    uint64_t v = 0;
    polyrpc_error_t err = polyrpc_metrics_get(name.c_str(), &v);
    if (err == POLYRPC_ERROR_NOT_FOUND) return py::none();
    Check(err, "polyrpc_metrics_get");
    return py::int_(v);
  });
  m.def("serve_metrics", [](const std::string& address) {
    int port = 0;
    Check(polyrpc_metrics_serve(address.c_str(), &port), "polyrpc_metrics_serve");
    return port;
  });
  m.def("set_log_level",
        [](int level) { Check(polyrpc_log_set_level(level), "polyrpc_log_set_level"); });
  m.def("log_level", [] { return polyrpc_log_level(); });
  m.def("set_trace_propagation", [](bool on) {
    Check(polyrpc_trace_set_propagation(on ? 1 : 0), "polyrpc_trace_set_propagation");
  });
  m.def("set_current_traceparent", [](py::object tp) {
    std::string s = tp.is_none() ? std::string() : tp.cast<std::string>();
    Check(polyrpc_trace_set_current(s.empty() ? nullptr : s.c_str()), "polyrpc_trace_set_current");
  });
  m.def("status_code_name", [](int code) { return std::string(polyrpc_status_code_name(code)); });
  m.def(
      "drain_releases", [] { DrainReleases(); },
      "Drops references to sent messages that I/O threads released (also happens on its own).");

  m.attr("WAIT_FOR_READY") = POLYRPC_CALL_WAIT_FOR_READY;
  m.attr("ONE_RESPONSE") = POLYRPC_CALL_ONE_RESPONSE;
  m.attr("WRITE_NO_COMPRESS") = POLYRPC_WRITE_NO_COMPRESS;
  m.attr("WRITE_LAST") = POLYRPC_WRITE_LAST;
  m.attr("EVENT_COMPLETE") = static_cast<int>(POLYRPC_EVENT_COMPLETE);
  m.attr("EVENT_SHUTDOWN") = static_cast<int>(POLYRPC_EVENT_SHUTDOWN);

  py::class_<ChannelCredentials>(m, "ChannelCredentials")
      .def_static("insecure",
                  [] {
                    auto c = std::make_unique<ChannelCredentials>();
                    Check(polyrpc_channel_credentials_create_insecure(&c->creds),
                          "polyrpc_channel_credentials_create_insecure");
                    return c;
                  })
      .def_static(
          "tls",
          [](std::optional<std::string> root, std::optional<std::string> chain,
             std::optional<std::string> key) {
            auto c = std::make_unique<ChannelCredentials>();
            Check(polyrpc_channel_credentials_create_tls(OptStr(root), OptStr(chain), OptStr(key),
                                                         &c->creds),
                  "polyrpc_channel_credentials_create_tls");
            return c;
          },
          py::arg("root_pem"), py::arg("cert_chain_pem"), py::arg("private_key_pem"));

  py::class_<ServerCredentials>(m, "ServerCredentials")
      .def_static("insecure",
                  [] {
                    auto c = std::make_unique<ServerCredentials>();
                    Check(polyrpc_server_credentials_create_insecure(&c->creds),
                          "polyrpc_server_credentials_create_insecure");
                    return c;
                  })
      .def_static(
          "tls",
          [](const std::string& chain, const std::string& key, std::optional<std::string> client_ca,
             bool require_client_cert) {
            auto c = std::make_unique<ServerCredentials>();
            Check(
                polyrpc_server_credentials_create_tls(chain.c_str(), key.c_str(), OptStr(client_ca),
                                                      require_client_cert ? 1 : 0, &c->creds),
                "polyrpc_server_credentials_create_tls");
            return c;
          },
          py::arg("cert_chain_pem"), py::arg("private_key_pem"), py::arg("client_ca_pem"),
          py::arg("require_client_cert"));

  py::class_<CallCredentials>(m, "CallCredentials")
      .def_static("bearer", [](const std::string& token) {
        auto c = std::make_unique<CallCredentials>();
        Check(polyrpc_call_credentials_create_bearer(token.c_str(), &c->creds),
              "polyrpc_call_credentials_create_bearer");
        return c;
      });

  py::class_<CompletionQueue>(m, "CompletionQueue")
      .def(py::init<>())
      .def("next", &CompletionQueue::Next, py::arg("timeout_ms"))
      .def("fd", &CompletionQueue::Fd)
      .def("shutdown", &CompletionQueue::Shutdown)
      .def("close", &CompletionQueue::Close);

  py::object none = py::none();
  py::class_<Call>(m, "Call")
      .def("set_compression", &Call::SetCompression)
      .def("set_authority", &Call::SetAuthority)
      .def("set_credentials", &Call::SetCredentials)
      .def("set_encoding_label_for_testing", &Call::SetEncodingLabelForTesting)
      .def("start", &Call::Start, py::arg("cq") = none, py::arg("tag") = none)
      .def("send_message", &Call::SendMessage, py::arg("data"), py::arg("flags") = 0,
           py::arg("cq") = none, py::arg("tag") = none)
      .def("close_send", &Call::CloseSend, py::arg("cq") = none, py::arg("tag") = none)
      .def("recv_initial_metadata", &Call::RecvInitialMetadata, py::arg("cq") = none,
           py::arg("tag") = none)
      .def("recv_message", &Call::RecvMessage, py::arg("cq") = none, py::arg("tag") = none)
      .def("take_message", &Call::TakeMessage)
      .def("last_message_compressed", &Call::LastMessageCompressed,
           "Whether the last received message arrived compressed.")
      .def("recv_status", &Call::RecvStatus, py::arg("cq") = none, py::arg("tag") = none)
      .def("status", &Call::Status)
      .def("initial_metadata", &Call::InitialMetadata)
      .def("trailing_metadata", &Call::TrailingMetadata)
      .def("request_metadata", &Call::RequestMetadata)
      .def("cancel", &Call::Cancel)
      .def("peer", &Call::Peer)
      .def("method", &Call::Method)
      .def("authority", &Call::Authority)
      .def("time_remaining_ms", &Call::TimeRemainingMs)
      .def("set_response_compression", &Call::SetResponseCompression)
      .def("send_initial_metadata", &Call::SendInitialMetadata, py::arg("metadata") = none,
           py::arg("cq") = none, py::arg("tag") = none)
      .def("send_status", &Call::SendStatus, py::arg("code"), py::arg("details"),
           py::arg("trailers") = none, py::arg("cq") = none, py::arg("tag") = none)
      .def("finish_unary", &Call::FinishUnary, py::arg("response"), py::arg("flags"),
           py::arg("code"), py::arg("details"), py::arg("trailers"))
      .def("start_unary", &Call::StartUnary, py::arg("request"), py::arg("flags"), py::arg("cq"),
           py::arg("tag"))
      .def("recv_close", &Call::RecvClose, py::arg("cq") = none, py::arg("tag") = none)
      .def("is_cancelled", &Call::IsCancelled)
      .def("expect_one_request", &Call::ExpectOneRequest)
      .def("close_connection_for_testing", &Call::CloseConnectionForTesting)
      .def("close", &Call::Close);

  py::class_<Channel>(m, "Channel")
      .def(py::init<const std::string&, ChannelCredentials&, py::handle>(), py::arg("target"),
           py::arg("credentials"), py::arg("options") = none)
      .def("create_call", &Channel::CreateCall, py::arg("method"), py::arg("timeout_ms"),
           py::arg("metadata"), py::arg("flags"), py::return_value_policy::take_ownership)
      .def("unary", &Channel::Unary, py::arg("method"), py::arg("timeout_ms"), py::arg("metadata"),
           py::arg("flags"), py::arg("request"), py::arg("compression"), py::arg("credentials"),
           py::arg("authority"))
      .def("get_state", &Channel::GetState, py::arg("try_to_connect") = false)
      .def("wait_for_state_change", &Channel::WaitForStateChange, py::arg("last"),
           py::arg("timeout_ms"))
      .def("close", &Channel::Close);

  py::class_<Server>(m, "Server")
      .def(py::init<py::handle>(), py::arg("options") = none)
      .def("add_listener", &Server::AddListener)
      .def("register_method", &Server::RegisterMethod)
      .def("enable_generic", &Server::EnableGeneric)
      .def("enable_health", &Server::EnableHealth)
      .def("set_health_status", &Server::SetHealthStatus, py::arg("service"), py::arg("status"))
      .def("enable_reflection", &Server::EnableReflection, py::arg("file_set"))
      .def("start", &Server::Start)
      .def("request_call", &Server::RequestCall, py::arg("cq"), py::arg("tag"))
      .def("request_call_blocking", &Server::RequestCallBlocking)
      .def("shutdown", &Server::Shutdown, py::arg("timeout_ms"));

  py::class_<IncomingCalls>(m, "IncomingCalls")
      .def(py::init<Server&, const std::vector<std::string>&, int>(), py::arg("server"),
           py::arg("prefetch_paths"), py::arg("depth"), py::keep_alive<1, 2>())
      .def("next", &IncomingCalls::Next, py::arg("timeout_ms"))
      .def("interrupt", &IncomingCalls::Interrupt);
}
