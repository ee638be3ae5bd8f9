// ObjectPool: a per-thread free list for one object size. Call objects are just over 1 KiB,
// which puts them in glibc's large bins: every call paid a malloc_consolidate and chunk
// unlinking (a quarter of the server's CPU in profiles). Calls are created and destroyed on
// loop threads, so a small per-thread cache turns that into a vector push/pop.
//
// Each thread keeps up to kMaxCached objects of a size; a thread that frees calls others made
// (a loop thread deleting calls created by application threads) fills its list to that bound
// over time. ObjectPoolCachedBytes() counts what every live thread's lists hold, for leak
// checks that must not mistake a filling cache for growth (soak/).
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <vector>

namespace polyrpc {

namespace object_pool_internal {
// One thread's list of one size, as the registry sees it.
struct Registered {
  std::atomic<size_t> bytes{0};  // written by its own thread only (relaxed stores)
  Registered* prev = nullptr;
  Registered* next = nullptr;
};
void Register(Registered* r);    // object_pool.cc; under a mutex, once per thread and size
void Unregister(Registered* r);  // at thread exit
}  // namespace object_pool_internal

// Bytes held by every live thread's object pools (a snapshot).
size_t ObjectPoolCachedBytes();

template <size_t kSize>
class ObjectPool {
 public:
  static void* Allocate() {
    FreeList& l = List();
    if (!l.blocks.empty()) {
      void* p = l.blocks.back();
      l.blocks.pop_back();
      l.Count();
      return p;
    }
    return ::operator new(kSize);
  }
  static void Free(void* p) {
    FreeList& l = List();
    if (l.blocks.size() < kMaxCached) {
      if (!l.registered) {
        l.registered = true;
        object_pool_internal::Register(&l.reg);
      }
      l.blocks.push_back(p);
      l.Count();
    } else {
      ::operator delete(p);
    }
  }

 private:
  static constexpr size_t kMaxCached = 1024;
  struct FreeList {
    std::vector<void*> blocks;
    object_pool_internal::Registered reg;
    bool registered = false;
    void Count() { reg.bytes.store(blocks.size() * kSize, std::memory_order_relaxed); }
    ~FreeList() {
      if (registered) object_pool_internal::Unregister(&reg);
      for (void* p : blocks) ::operator delete(p);
    }
  };
  static FreeList& List() {
    thread_local FreeList list;
    return list;
  }
};

// Gives a class pooled operator new/delete (for exactly its own size; derived classes fall
// back to the global allocator).
#define POLYRPC_POOLED_CLASS(Class)                                                  \
  static void* operator new(size_t n) {                                              \
    return n == sizeof(Class) ? ::polyrpc::ObjectPool<sizeof(Class)>::Allocate()     \
                              : ::operator new(n);                                   \
  }                                                                                  \
  static void operator delete(void* p, size_t n) {                                   \
    if (n == sizeof(Class)) {                                                        \
      ::polyrpc::ObjectPool<sizeof(Class)>::Free(p);                                 \
    } else {                                                                         \
      ::operator delete(p);                                                          \
    }                                                                                \
  }

}  // namespace polyrpc
