// Internals of libpolyrpc, the C ABI over the C++ core: handle tags, the error path shared by
// every entry point, and the definitions of the opaque C structs.
//
// Handles. Every C handle starts with a 32-bit tag (HandleTag) that names its type while it is
// alive and is overwritten with kDeadTag when it is destroyed. Entry points check the tag before
// anything else, so NULL, destroyed and wrong-type handles are reported as misuse instead of
// crashing. To make the check on a destroyed handle a read of valid memory, destroyed shells are
// not freed at once: they go to a per-thread quarantine ring (handle.cc) and are freed only when
// pushed out by newer ones. A handle used within the last kQuarantineSize destructions on the
// destroying thread is therefore always detected; older dangling handles are beyond help (as in
// every C library). Shells are small: the state they point to is released at destroy time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <vector>

#include "polyrpc++/polyrpc.hpp"
#include "polyrpc/polyrpc.h"

namespace polyrpc::capi {

enum HandleTag : uint32_t {
  kBufferTag = 0x50427566,       // "PBuf"
  kMetadataTag = 0x504d6461,     // "PMda"
  kCqTag = 0x50437175,           // "PCqu"
  kOptionsTag = 0x504f7074,      // "POpt"
  kChanCredsTag = 0x50436372,    // "PCcr"
  kServerCredsTag = 0x50536372,  // "PScr"
  kCallCredsTag = 0x504b6372,    // "PKcr"
  kChannelTag = 0x5043686e,      // "PChn"
  kCallTag = 0x5043616c,         // "PCal"
  kServerTag = 0x50537276,       // "PSrv"
  kDeadTag = 0xdeadbeef,
};

// An API error on its way to the caller. Thrown inside the library only; the entry-point macro
// turns it into the return code and the thread's last-error message.
struct ApiError {
  polyrpc_error_t code;
  std::string message;
};

[[noreturn]] void Throw(polyrpc_error_t code, std::string message);

// Records message as this thread's last error and returns code.
polyrpc_error_t SetLastError(polyrpc_error_t code, const std::string& message);
// Maps the exception being handled (inside a catch block) to an error code + message.
polyrpc_error_t HandleCurrentException(const char* function) noexcept;

// Who owns the objects created now: the process id (updated in a fork child by pthread_atfork)
// and how many times polyrpc_shutdown() ran, in one number. Channels, servers and calls remember
// it; one created under another owner (a fork's parent, or before a shutdown) is dead: its I/O
// threads do not exist any more.
uint64_t CurrentOwner();
// Starts a new owner generation (polyrpc_shutdown): objects created before become foreign.
void NewOwnerGeneration();
// Throws CLOSED for an object of another owner, saying which case it is.
[[noreturn]] void ThrowForeignOwner(uint64_t owner, const char* what);

// Keeps obj alive until the process ends. Used for objects of another owner: their I/O threads
// do not exist, so running their destructors could block forever.
void KeepForever(std::shared_ptr<void> obj);

// Live channels and servers, for polyrpc_shutdown(). Registered at creation; expired entries are
// pruned as new ones come.
void RegisterChannel(const std::shared_ptr<polyrpc::Channel>& channel);
class ServerState;
void RegisterServer(const std::shared_ptr<ServerState>& server);
// Shuts down every registered server (server.cc).
void ShutdownServerState(ServerState& state, polyrpc::Deadline deadline);
}  // namespace polyrpc::capi
namespace polyrpc {
class DescriptorDatabase;
}
namespace polyrpc::capi {
// polyrpc_server_enable_reflection (dynamic.cc -> server.cc): checks the handle and that the
// server is not started yet, and registers the reflection service over db.
void EnableServerReflection(polyrpc_server* server, std::shared_ptr<polyrpc::DescriptorDatabase> db);

// Channel handle check shared by channel.cc and call.cc (tag, fork, not destroyed).
struct ChannelHandle;
ChannelHandle* CheckChannel(polyrpc_channel* ch);
// Maps a core setup error text to TLS (certificates, keys) or fallback; quoted (the caller's
// own string inside the text) is not searched.
polyrpc_error_t ClassifySetupError(const std::string& error, polyrpc_error_t fallback,
                                   const std::string& quoted);

// Retires a destroyed shell: its tag is already kDeadTag; free_fn(shell) runs later.
void Quarantine(void* shell, void (*free_fn)(void*));

inline void RequireArg(bool ok, const char* message) {
  if (!ok) Throw(POLYRPC_ERROR_INVALID_ARGUMENT, message);
}

// Validates one metadata entry (key rules, reserved headers, printable values); throws.
void ValidateMetadataEntry(const char* key, const uint8_t* value, size_t len);
// "identity", "deflate", "gzip" -> true.
bool IsKnownCompression(const char* algorithm);

// ---- Completion queues ------------------------------------------------------------------

// The engine behind polyrpc_cq_t. Shared by the handle and by every pending operation, so a
// completion arriving after polyrpc_cq_destroy() finds it alive (and drops the event).
//
// Every operation started on a queue holds a slot (its tag, and a generation that makes a stale
// id harmless) from BeginOp until it is delivered: by its own completion, or earlier by
// CancelPending, after which its own completion is dropped. So each tag comes back exactly once.
// Waiters sleep in poll(2) on the queue's eventfd (not on a condition variable), so that
// Wake() can end a wait from anywhere, a signal handler included, and a signal can interrupt one.
class CompletionQueue {
 public:
  enum class Kind { kQueue, kCallback };
  CompletionQueue();  // queue kind; throws on eventfd failure
  CompletionQueue(polyrpc_completion_fn fn, void* user_data, polyrpc_free_fn user_data_free);
  ~CompletionQueue();

  Kind kind() const { return kind_; }
  int fd() const { return efd_; }

  // Registers one operation about to start, reporting tag; returns its id. CLOSED after shutdown
  // or destroy.
  uint64_t BeginOp(void* tag);
  // Undoes BeginOp when the operation could not be started.
  void AbandonOp(uint64_t op);
  // Delivers the completion of op. Runs the callback (callback kind) or queues the event; never
  // holds the lock while calling out. Dropped if CancelPending delivered op already.
  void Complete(uint64_t op, bool success);
  // True once polyrpc_cq_destroy ran: completions are dropped from then on.
  bool IsDestroyed() {
    std::lock_guard<std::mutex> lock(mu_);
    return destroyed_;
  }

  // polyrpc_cq_next. Returns the event type.
  polyrpc_event_type_t Next(int timeout_ms, void** tag, int* success);
  void Shutdown();
  // polyrpc_cq_wake: async-signal-safe (no lock, no allocation).
  void Wake();
  void SetInterruptible(bool on) { interruptible_.store(on, std::memory_order_relaxed); }
  // polyrpc_cq_cancel_pending: every pending operation is delivered now with success=0.
  void CancelPending();
  // The handle is gone. A callback queue first delivers its pending operations (CancelPending);
  // a queue drops them, and drops what it has queued.
  void Destroy();

 private:
  struct Slot {
    void* tag = nullptr;
    uint32_t gen = 0;
    bool live = false;
  };
  // Frees op's slot if it is still live; returns its tag through *tag.
  bool ReleaseSlotLocked(uint64_t op, void** tag);
  void SignalLocked();   // make the eventfd readable for queued events
  void ClearFdLocked();  // after a wake-up that found nothing: reset it, keeping what is due
  bool DrainedLocked() const { return shutdown_ && live_ops_ == 0 && events_.empty(); }
  bool TakeWake();

  const Kind kind_;
  int efd_ = -1;
  polyrpc_completion_fn fn_ = nullptr;
  void* user_data_ = nullptr;
  polyrpc_free_fn user_data_free_ = nullptr;

  std::mutex mu_;
  struct Event {
    void* tag;
    bool success;
  };
  std::deque<Event> events_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  size_t live_ops_ = 0;  // operations started and not delivered yet
  bool shutdown_ = false;
  bool destroyed_ = false;
  bool signalled_ = false;
  std::atomic<uint64_t> wakes_{0};
  std::atomic<bool> interruptible_{false};
};

// A blocked caller's wait for one operation (cq == NULL): the core's sync waiter, held in a
// shared_ptr shared with the completion so that the waiter may stop waiting early (Abort, on
// cancel) without the completion touching freed memory.
using polyrpc::OpWaiter;

// Where one operation reports: a cq (queue or callback) with its operation id, or a blocked
// thread.
struct OpTarget {
  std::shared_ptr<CompletionQueue> cq;
  uint64_t op = 0;
  std::shared_ptr<OpWaiter> waiter;

  void Deliver(bool ok) const {
    if (cq) {
      cq->Complete(op, ok);
    } else if (waiter) {
      waiter->Complete(ok);
    }
  }
  // The operation could not be started: no completion will come.
  void Abandon() const {
    if (cq) cq->AbandonOp(op);
  }
};

// The target of one operation: (cq, tag) registered on the queue, or a waiter when cq is NULL.
// Throws for a bad cq handle or a queue that is shut down.
OpTarget MakeTarget(polyrpc_cq* cq, void* tag);

}  // namespace polyrpc::capi

// ---- The handles ---------------------------------------------------------------------------

namespace polyrpc::capi {

struct BufferHandle {
  std::atomic<uint32_t> tag{kBufferTag};
  polyrpc::Slice slice;
};

struct MetadataHandle {
  std::atomic<uint32_t> tag{kMetadataTag};
  polyrpc::Metadata own;
  // The entries: &own for caller-owned lists, or the core's list for metadata owned by a call
  // (switched from an empty list to the core's once that is final; atomic because a reader may
  // look while the switch happens).
  std::atomic<const polyrpc::Metadata*> md{&own};
  bool owned_by_call = false;
  const polyrpc::Metadata& list() const { return *md.load(std::memory_order_acquire); }
};

struct CqHandle {
  std::atomic<uint32_t> tag{kCqTag};
  std::shared_ptr<CompletionQueue> q;
};

struct OptionsHandle {
  std::atomic<uint32_t> tag{kOptionsTag};
  polyrpc::Options options;
};

struct ChannelCredsHandle {
  std::atomic<uint32_t> tag{kChanCredsTag};
  std::shared_ptr<polyrpc::ChannelCredentials> creds;
};

struct ServerCredsHandle {
  std::atomic<uint32_t> tag{kServerCredsTag};
  std::shared_ptr<polyrpc::ServerCredentials> creds;
};

struct CallCredsHandle {
  std::atomic<uint32_t> tag{kCallCredsTag};
  std::string bearer_token;
};

struct ChannelHandle {
  std::atomic<uint32_t> tag{kChannelTag};
  uint64_t owner = 0;  // CurrentOwner() when created
  std::shared_ptr<polyrpc::Channel> channel;
};

class CallState;
class ServerState;

struct CallHandle {
  std::atomic<uint32_t> tag{kCallTag};
  std::shared_ptr<CallState> state;
};

struct ServerHandle {
  std::atomic<uint32_t> tag{kServerTag};
  uint64_t owner = 0;  // CurrentOwner() when created
  std::shared_ptr<ServerState> state;
};


// The C handle types are only declared (in the public headers) and never defined: the library's
// handles are these internal structs, cast at the boundary. So the debug info, and with it the
// ABI baseline of capi/abi, shows the C types as opaque, as the header does.
template <typename C>
struct Internal;
#define POLYRPC_HANDLE_TYPE(c_type, internal_type) \
  template <>                                      \
  struct Internal<c_type> {                        \
    using type = internal_type;                    \
  };                                               \
  inline c_type* ToC(internal_type* h) { return reinterpret_cast<c_type*>(h); } \
  inline const c_type* ToC(const internal_type* h) { return reinterpret_cast<const c_type*>(h); }
POLYRPC_HANDLE_TYPE(polyrpc_buffer, BufferHandle)
POLYRPC_HANDLE_TYPE(polyrpc_metadata, MetadataHandle)
POLYRPC_HANDLE_TYPE(polyrpc_cq, CqHandle)
POLYRPC_HANDLE_TYPE(polyrpc_options, OptionsHandle)
POLYRPC_HANDLE_TYPE(polyrpc_channel_credentials, ChannelCredsHandle)
POLYRPC_HANDLE_TYPE(polyrpc_server_credentials, ServerCredsHandle)
POLYRPC_HANDLE_TYPE(polyrpc_call_credentials, CallCredsHandle)
POLYRPC_HANDLE_TYPE(polyrpc_channel, ChannelHandle)
POLYRPC_HANDLE_TYPE(polyrpc_call, CallHandle)
POLYRPC_HANDLE_TYPE(polyrpc_server, ServerHandle)
#undef POLYRPC_HANDLE_TYPE

// Checks the tag of a C handle and returns the internal handle; throws INVALID_ARGUMENT (NULL,
// wrong type) or CLOSED (destroyed).
template <typename C>
typename Internal<C>::type* Check(C* c, HandleTag tag, const char* what) {
  auto* h = reinterpret_cast<typename Internal<C>::type*>(c);
  if (h == nullptr) Throw(POLYRPC_ERROR_INVALID_ARGUMENT, std::string(what) + " is NULL");
  uint32_t t = h->tag.load(std::memory_order_acquire);
  if (t == tag) return h;
  if (t == kDeadTag) Throw(POLYRPC_ERROR_CLOSED, std::string(what) + " was destroyed");
  Throw(POLYRPC_ERROR_INVALID_ARGUMENT, std::string(what) + " is not a valid " + what + " handle");
}
template <typename C>
const typename Internal<C>::type* Check(const C* c, HandleTag tag, const char* what) {
  return Check(const_cast<C*>(c), tag, what);
}

// Marks h destroyed and hands it to the quarantine.
template <typename T>
void Retire(T* h) {
  h->tag.store(kDeadTag, std::memory_order_release);
  Quarantine(h, [](void* p) { delete static_cast<T*>(p); });
}

}  // namespace polyrpc::capi

// Creates the C handle of a server call (server.cc -> call.cc).
polyrpc_call* polyrpc_capi_wrap_server_call(std::shared_ptr<polyrpc::ServerCall> call);

// ---- The entry-point macros: every exported function body is wrapped in one of these --------

// For functions returning polyrpc_error_t.
#define POLYRPC_API_TRY try {
#define POLYRPC_API_CATCH                                                \
  }                                                                      \
  catch (...) {                                                          \
    return ::polyrpc::capi::HandleCurrentException(__func__);            \
  }
// For functions returning something else (a pointer, a size, void): errors set the last-error
// message and the function returns fallback.
#define POLYRPC_API_CATCH_RETURN(fallback)                               \
  }                                                                      \
  catch (...) {                                                          \
    ::polyrpc::capi::HandleCurrentException(__func__);                   \
    return fallback;                                                     \
  }
#define POLYRPC_API_CATCH_VOID                                           \
  }                                                                      \
  catch (...) {                                                          \
    ::polyrpc::capi::HandleCurrentException(__func__);                   \
  }
