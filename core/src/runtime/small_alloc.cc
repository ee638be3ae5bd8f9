#include "runtime/small_alloc.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "polyrpc++/slice.hpp"

namespace polyrpc {

namespace {

// Every block starts with this header; the caller gets the bytes after it (16-byte aligned,
// as malloc's are).
struct alignas(16) Header {
  uint32_t cls;   // size class, or kLarge
  uint32_t pad;
  uint64_t size;  // usable bytes after the header
};
static_assert(sizeof(Header) == 16);

// Classes by total block size (header included): 16-byte steps up to 256, then 64-byte steps
// up to kSmallAllocMaxSmall + 16.
constexpr uint32_t kFine = 16;  // classes 0..15: 16..256 bytes
constexpr size_t kTotalMax = kSmallAllocMaxSmall + sizeof(Header);
constexpr uint32_t kClasses = kFine + static_cast<uint32_t>((kTotalMax - 256 + 63) / 64);
constexpr uint32_t kLarge = 0xffffffffu;
constexpr uint32_t kMaxBlocks = 1024;          // per class and thread
constexpr size_t kMaxBytes = 2 * 1024 * 1024;   // all classes of a thread

constexpr uint32_t ClassOf(size_t total) {
  return total <= 256 ? static_cast<uint32_t>((total + 15) / 16 - 1)
                      : kFine + static_cast<uint32_t>((total - 256 + 63) / 64) - 1;
}
constexpr size_t ClassBytes(uint32_t cls) {
  return cls < kFine ? (size_t{cls} + 1) * 16 : 256 + (size_t{cls} - kFine + 1) * 64;
}
static_assert(ClassOf(ClassBytes(kClasses - 1)) == kClasses - 1);
static_assert(ClassBytes(ClassOf(kTotalMax)) >= kTotalMax);

// A cached block keeps its header's class, marked with kCached, and links through the size
// field (restored when the block is handed out again): a second free of the same block sees
// the mark.
constexpr uint32_t kCached = 0x80000000u;
struct FreeBlock {
  uint32_t cls;
  uint32_t pad;
  FreeBlock* next;
};
static_assert(sizeof(FreeBlock) == sizeof(Header));

// Plain data, zero-initialised and never destroyed, so that a block freed by a later
// thread-local destructor of the same thread still finds it (dead: go to free(3)).
struct ThreadCache {
  FreeBlock* head[kClasses];
  uint32_t count[kClasses];
  // Written by its own thread only; atomic (relaxed loads and stores, plain moves) so that
  // SmallAllocAllThreadsCachedBytes may read it from another.
  std::atomic<size_t> bytes;
  bool registered;
  bool dead;
  ThreadCache* prev;  // the registry of live caches (registry_mu)
  ThreadCache* next;
};
thread_local ThreadCache tc;

// The caches of live threads that have cached a block: a list under a mutex taken when a thread
// caches its first block and when it exits, never on the allocation path. Never destroyed
// (threads may exit during static destruction).
std::mutex& RegistryMu() {
  static auto* mu = new std::mutex;
  return *mu;
}
ThreadCache* registry_head = nullptr;

void AddBytes(ThreadCache& c, size_t n) {
  c.bytes.store(c.bytes.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
void SubBytes(ThreadCache& c, size_t n) {
  c.bytes.store(c.bytes.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
}

void Drain() {
  for (uint32_t c = 0; c < kClasses; ++c) {
    while (FreeBlock* b = tc.head[c]) {
      tc.head[c] = b->next;
      std::free(b);
    }
    tc.count[c] = 0;
  }
  tc.bytes.store(0, std::memory_order_relaxed);
}

std::atomic<size_t> drained{0};

struct Reaper {
  ~Reaper() {
    size_t n = 0;
    for (uint32_t c = 0; c < kClasses; ++c) n += tc.count[c];
    Drain();
    tc.dead = true;
    drained.fetch_add(n, std::memory_order_relaxed);
    if (tc.registered) {
      std::lock_guard<std::mutex> lock(RegistryMu());
      if (tc.prev != nullptr) tc.prev->next = tc.next; else registry_head = tc.next;
      if (tc.next != nullptr) tc.next->prev = tc.prev;
    }
  }
  void Touch() {}
};
thread_local Reaper reaper;

Header* HeaderOf(void* p) { return static_cast<Header*>(p) - 1; }

void* FromMalloc(size_t n) {
  if (n > SIZE_MAX - sizeof(Header)) throw std::bad_alloc();
  auto* h = static_cast<Header*>(std::malloc(sizeof(Header) + n));
  if (h == nullptr) throw std::bad_alloc();
  h->cls = kLarge;
  h->size = n;
  return h + 1;
}

}  // namespace

void* SmallAlloc(size_t n) {
#if POLYRPC_SMALL_ALLOC_POOLS
  if (n <= kSmallAllocMaxSmall) {
    ThreadCache& c = tc;  // one thread-local lookup (a call in position-independent code)
    uint32_t cls = ClassOf(n + sizeof(Header));
    FreeBlock* b = c.head[cls];
    Header* h;
    if (b != nullptr) {
      c.head[cls] = b->next;
      --c.count[cls];
      SubBytes(c, ClassBytes(cls));
      h = reinterpret_cast<Header*>(b);
      h->cls = cls;
      h->size = ClassBytes(cls) - sizeof(Header);  // the list's link overwrote it
    } else {
      h = static_cast<Header*>(std::malloc(ClassBytes(cls)));
      if (h == nullptr) throw std::bad_alloc();
      h->cls = cls;
      h->size = ClassBytes(cls) - sizeof(Header);
    }
    return h + 1;
  }
#endif
  return FromMalloc(n);
}

void SmallFree(void* p) noexcept {
  if (p == nullptr) return;
  Header* h = HeaderOf(p);
  uint32_t cls = h->cls;
  if (cls != kLarge) {
    // A cached block freed again, or a block that never came from here: stop rather than
    // corrupt the lists (glibc aborts on a double free too).
    if (cls >= kClasses) std::abort();
    ThreadCache& c = tc;
    if (!c.dead && c.count[cls] < kMaxBlocks &&
        c.bytes.load(std::memory_order_relaxed) + ClassBytes(cls) <= kMaxBytes) {
      if (!c.registered) {
        c.registered = true;
        reaper.Touch();  // registers the thread-exit drain
        std::lock_guard<std::mutex> lock(RegistryMu());
        c.next = registry_head;
        if (registry_head != nullptr) registry_head->prev = &c;
        registry_head = &c;
      }
      auto* b = reinterpret_cast<FreeBlock*>(h);
      b->cls = cls | kCached;
      b->next = c.head[cls];
      c.head[cls] = b;
      ++c.count[cls];
      AddBytes(c, ClassBytes(cls));
      return;
    }
  }
  std::free(h);
}

void* SmallRealloc(void* p, size_t n) {
  void* q;
  try {
    if (p == nullptr) return SmallAlloc(n);
    Header* h = HeaderOf(p);
    if (n <= h->size && (h->cls != kLarge || n * 2 >= h->size)) return p;
    q = SmallAlloc(n);
    std::memcpy(q, p, n < h->size ? n : h->size);
  } catch (const std::bad_alloc&) {
    return nullptr;  // p is untouched, as with realloc(3)
  }
  SmallFree(p);
  return q;
}

size_t SmallAllocCachedBlocks() {
  size_t n = 0;
  for (uint32_t c = 0; c < kClasses; ++c) n += tc.count[c];
  return n;
}

size_t SmallAllocCachedBytes() { return tc.bytes.load(std::memory_order_relaxed); }

size_t SmallAllocAllThreadsCachedBytes() {
  std::lock_guard<std::mutex> lock(RegistryMu());
  size_t n = 0;
  for (ThreadCache* c = registry_head; c != nullptr; c = c->next) {
    n += c->bytes.load(std::memory_order_relaxed);
  }
  return n;
}

size_t SmallAllocDrainedBlocks() { return drained.load(std::memory_order_relaxed); }

// Slice::Allocate lives here so that small payloads come from these lists: the bytes and the
// reference count in one block.
Slice Slice::Allocate(size_t len, uint8_t** out) {
  std::shared_ptr<uint8_t[]> buf =
      std::allocate_shared_for_overwrite<uint8_t[]>(SmallAllocator<uint8_t>(), len > 0 ? len : 1);
  *out = buf.get();
  uint8_t* p = buf.get();
  return Slice(std::shared_ptr<const void>(buf, p), p, len);
}

}  // namespace polyrpc
