// Version, the error path (last error, error names, exception mapping), handle quarantine,
// fork detection, message buffers and metadata lists.
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string_view>
#include <system_error>

#include "internal.h"

namespace polyrpc::capi {
namespace {

thread_local std::string t_last_error;

// Names of the API error codes, indexed by -code. The one table of the error model: the
// reference docs and polyrpc_error_name() read it.
constexpr const char* kErrorNames[] = {
    "POLYRPC_OK",
    "POLYRPC_ERROR_INVALID_ARGUMENT",
    "POLYRPC_ERROR_CLOSED",
    "POLYRPC_ERROR_NO_MEMORY",
    "POLYRPC_ERROR_BUSY",
    "POLYRPC_ERROR_WRONG_STATE",
    "POLYRPC_ERROR_TIMEOUT",
    "POLYRPC_ERROR_IO",
    "POLYRPC_ERROR_TLS",
    "POLYRPC_ERROR_NOT_FOUND",
    "POLYRPC_ERROR_INTERNAL",
};

// ---- fork detection ----
std::atomic<pid_t> g_pid{0};
void OnForkChild() { g_pid.store(getpid(), std::memory_order_relaxed); }
pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;
void InstallForkHandler() {
  g_pid.store(getpid(), std::memory_order_relaxed);
  pthread_atfork(nullptr, nullptr, OnForkChild);
}

// ---- quarantine ----
// Per-thread ring of destroyed shells. Per thread so that destroying a handle (every received
// message is a buffer handle) takes no lock.
constexpr size_t kQuarantineSize = 1024;
struct QuarantineRing {
  struct Entry {
    void* shell = nullptr;
    void (*free_fn)(void*) = nullptr;
  };
  Entry ring[kQuarantineSize];
  size_t next = 0;
  ~QuarantineRing() {
    for (auto& e : ring) {
      if (e.shell) e.free_fn(e.shell);
    }
  }
};
thread_local QuarantineRing t_quarantine;

}  // namespace

void Throw(polyrpc_error_t code, std::string message) {
  throw ApiError{code, std::move(message)};
}

polyrpc_error_t SetLastError(polyrpc_error_t code, const std::string& message) {
  try {
    t_last_error = message;
  } catch (...) {
    t_last_error.clear();  // no memory for the message: the code still tells the story
  }
  return code;
}

polyrpc_error_t HandleCurrentException(const char* function) noexcept {
  try {
    throw;
  } catch (const ApiError& e) {
    return SetLastError(e.code, std::string(function) + ": " + e.message);
  } catch (const std::bad_alloc&) {
    return SetLastError(POLYRPC_ERROR_NO_MEMORY, std::string(function) + ": out of memory");
  } catch (const std::system_error& e) {
    return SetLastError(POLYRPC_ERROR_IO, std::string(function) + ": " + e.what());
  } catch (const std::exception& e) {
    return SetLastError(POLYRPC_ERROR_INTERNAL,
                        std::string(function) + ": internal error: " + e.what());
  } catch (...) {
    return SetLastError(POLYRPC_ERROR_INTERNAL,
                        std::string(function) + ": internal error: unknown exception");
  }
}

std::atomic<uint32_t> g_generation{0};  // polyrpc_shutdown() calls

void NewOwnerGeneration() {
  pthread_once(&g_fork_once, InstallForkHandler);
  g_generation.fetch_add(1, std::memory_order_acq_rel);
}

uint64_t CurrentOwner() {
  pthread_once(&g_fork_once, InstallForkHandler);
  return (uint64_t{static_cast<uint32_t>(g_pid.load(std::memory_order_relaxed))} << 32) |
         g_generation.load(std::memory_order_acquire);
}

void ThrowForeignOwner(uint64_t owner, const char* what) {
  if ((owner >> 32) != (CurrentOwner() >> 32)) {
    Throw(POLYRPC_ERROR_CLOSED,
          std::string("the ") + what + " belongs to the parent process (fork)");
  }
  Throw(POLYRPC_ERROR_CLOSED,
        std::string("the ") + what + " was created before polyrpc_shutdown() was called");
}

void KeepForever(std::shared_ptr<void> obj) {
  static std::mutex mu;
  // Never destroyed: still reachable at exit, on purpose.
  static auto* kept = new std::vector<std::shared_ptr<void>>();
  std::lock_guard<std::mutex> lock(mu);
  kept->push_back(std::move(obj));
}

void Quarantine(void* shell, void (*free_fn)(void*)) {
  QuarantineRing& q = t_quarantine;
  QuarantineRing::Entry& e = q.ring[q.next];
  if (e.shell) e.free_fn(e.shell);
  e.shell = shell;
  e.free_fn = free_fn;
  q.next = (q.next + 1) % kQuarantineSize;
}

bool IsKnownCompression(const char* a) {
  return a != nullptr &&
         (std::strcmp(a, "identity") == 0 || std::strcmp(a, "deflate") == 0 ||
          std::strcmp(a, "gzip") == 0);
}

void ValidateMetadataEntry(const char* key, const uint8_t* value, size_t len) {
  RequireArg(key != nullptr, "metadata key is NULL");
  RequireArg(value != nullptr || len == 0, "metadata value is NULL with a non-zero length");
  std::string_view k(key);
  if (k.empty()) Throw(POLYRPC_ERROR_INVALID_ARGUMENT, "metadata key is empty");
  for (char c : k) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) {
      Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
            "invalid metadata key \"" + std::string(k) +
                "\": keys are lowercase and use only [0-9a-z_.-]");
    }
  }
  // Kept in step with core/src/protocol/metadata_rules.cc: headers the transport owns.
  static constexpr std::string_view kReserved[] = {
      "content-type",  "te",          "host",           "connection",
      "grpc-status",   "grpc-message", "grpc-timeout",  "grpc-encoding",
      "grpc-accept-encoding", "grpc-previous-rpc-attempts", "grpc-retry-pushback-ms",
      "transfer-encoding", "upgrade", "keep-alive", "proxy-connection"};
  for (std::string_view r : kReserved) {
    if (k == r) {
      Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
            "metadata key \"" + std::string(k) + "\" is reserved for the transport");
    }
  }
  bool binary = k.size() >= 4 && k.substr(k.size() - 4) == "-bin";
  if (!binary) {
    for (size_t i = 0; i < len; i++) {
      if (value[i] < 0x20 || value[i] > 0x7e) {
        Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
              "metadata value of \"" + std::string(k) +
                  "\" has a non-printable byte; use a key ending in \"-bin\" for binary values");
      }
    }
  }
}

}  // namespace polyrpc::capi

using namespace polyrpc::capi;

extern "C" {

const char* polyrpc_version(void) { return POLYRPC_VERSION_STRING; }

uint32_t polyrpc_version_number(void) { return POLYRPC_VERSION_NUMBER; }

const char* polyrpc_last_error(void) { return t_last_error.c_str(); }

const char* polyrpc_error_name(polyrpc_error_t err) {
  int i = -static_cast<int>(err);
  if (i < 0 || i >= static_cast<int>(sizeof(kErrorNames) / sizeof(kErrorNames[0]))) {
    return "POLYRPC_ERROR_UNKNOWN";
  }
  return kErrorNames[i];
}

const char* polyrpc_status_code_name(int code) {
  return polyrpc::StatusCodeName(static_cast<polyrpc::StatusCode>(code));
}

// ---- buffers ----

polyrpc_error_t polyrpc_buffer_create_copy(const uint8_t* data, size_t len,
                                           polyrpc_buffer_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  RequireArg(data != nullptr || len == 0, "data is NULL with a non-zero length");
  auto b = std::make_unique<BufferHandle>();
  b->slice = polyrpc::Slice::Copy(data, len);
  *out = ToC(b.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_buffer_create_wrap(const uint8_t* data, size_t len,
                                           void (*free_fn)(void* user_data), void* user_data,
                                           polyrpc_buffer_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  RequireArg(data != nullptr || len == 0, "data is NULL with a non-zero length");
  auto b = std::make_unique<BufferHandle>();
  // free_fn goes through an armed trampoline: Slice::Wrap (core/include/polyrpc++/slice.hpp)
  // currently also runs its releaser once on a temporary while constructing the slice. Calls
  // before arming are ignored, so the caller's free_fn runs exactly once, at the last release,
  // whether or not the core has that quirk; and never if this function fails.
  struct WrapRelease {
    void (*fn)(void*);
    void* user_data;
    std::atomic<bool> armed{false};
    static void Run(void* p) {
      auto* r = static_cast<WrapRelease*>(p);
      if (!r->armed.load(std::memory_order_acquire)) return;
      if (r->fn) r->fn(r->user_data);
      delete r;
    }
  };
  auto release = std::make_unique<WrapRelease>();
  release->fn = free_fn;
  release->user_data = user_data;
  b->slice = polyrpc::Slice::Wrap(data, len, &WrapRelease::Run, release.get());
  release.release()->armed.store(true, std::memory_order_release);
  *out = ToC(b.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_buffer_data(const polyrpc_buffer_t* buf, const uint8_t** data,
                                    size_t* len) {
  POLYRPC_API_TRY
  auto* buf_h = Check(buf, kBufferTag, "buffer");
  RequireArg(data != nullptr && len != nullptr, "data or len is NULL");
  *data = buf_h->slice.data();
  *len = buf_h->slice.size();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

size_t polyrpc_buffer_length(const polyrpc_buffer_t* buf) {
  POLYRPC_API_TRY
  if (buf == nullptr) return 0;
  return Check(buf, kBufferTag, "buffer")->slice.size();
  POLYRPC_API_CATCH_RETURN(0)
}

void polyrpc_buffer_destroy(polyrpc_buffer_t* buf) {
  POLYRPC_API_TRY
  if (buf == nullptr) return;
  auto* buf_h = Check(buf, kBufferTag, "buffer");
  buf_h->slice = polyrpc::Slice();  // drop the reference now; the shell goes to quarantine
  Retire(buf_h);
  POLYRPC_API_CATCH_VOID
}

// ---- metadata ----

polyrpc_error_t polyrpc_metadata_create(polyrpc_metadata_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  *out = ToC(new MetadataHandle());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_metadata_add(polyrpc_metadata_t* md, const char* key,
                                     const uint8_t* value, size_t value_len) {
  POLYRPC_API_TRY
  auto* md_h = Check(md, kMetadataTag, "metadata");
  if (md_h->owned_by_call) {
    Throw(POLYRPC_ERROR_WRONG_STATE, "metadata owned by a call is read-only");
  }
  ValidateMetadataEntry(key, value, value_len);
  md_h->own.emplace_back(key, std::string(reinterpret_cast<const char*>(value), value_len));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

size_t polyrpc_metadata_count(const polyrpc_metadata_t* md) {
  POLYRPC_API_TRY
  if (md == nullptr) return 0;
  return Check(md, kMetadataTag, "metadata")->list().size();
  POLYRPC_API_CATCH_RETURN(0)
}

polyrpc_error_t polyrpc_metadata_get(const polyrpc_metadata_t* md, size_t i, const char** key,
                                     const uint8_t** value, size_t* value_len) {
  POLYRPC_API_TRY
  auto* md_h = Check(md, kMetadataTag, "metadata");
  if (i >= md_h->list().size()) {
    Throw(POLYRPC_ERROR_NOT_FOUND, "index " + std::to_string(i) + " out of range (count " +
                                       std::to_string(md_h->list().size()) + ")");
  }
  const auto& kv = md_h->list()[i];
  if (key) *key = kv.first.c_str();
  if (value) *value = reinterpret_cast<const uint8_t*>(kv.second.c_str());
  if (value_len) *value_len = kv.second.size();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_metadata_find(const polyrpc_metadata_t* md, const char* key,
                                      const uint8_t** value, size_t* value_len) {
  POLYRPC_API_TRY
  auto* md_h = Check(md, kMetadataTag, "metadata");
  RequireArg(key != nullptr, "key is NULL");
  const std::string* v = polyrpc::FindMetadata(md_h->list(), key);
  if (v == nullptr) Throw(POLYRPC_ERROR_NOT_FOUND, std::string("no metadata key \"") + key + "\"");
  if (value) *value = reinterpret_cast<const uint8_t*>(v->c_str());
  if (value_len) *value_len = v->size();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

void polyrpc_metadata_destroy(polyrpc_metadata_t* md) {
  POLYRPC_API_TRY
  if (md == nullptr) return;
  auto* md_h = Check(md, kMetadataTag, "metadata");
  if (md_h->owned_by_call) {
    Throw(POLYRPC_ERROR_WRONG_STATE, "metadata owned by a call is freed with the call");
  }
  md_h->own = polyrpc::Metadata();
  Retire(md_h);
  POLYRPC_API_CATCH_VOID
}

}  // extern "C"
