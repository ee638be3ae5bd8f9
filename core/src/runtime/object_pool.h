// ObjectPool: a per-thread free list for one object size. Call objects are just over 1 KiB,
// which puts them in glibc's large bins: every call paid a malloc_consolidate and chunk
// unlinking (a quarter of the server's CPU in profiles). Calls are created and destroyed on
// loop threads, so a small per-thread cache turns that into a vector push/pop.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace polyrpc {

template <size_t kSize>
class ObjectPool {
 public:
  static void* Allocate() {
    auto& list = List().blocks;
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      return p;
    }
    return ::operator new(kSize);
  }
  static void Free(void* p) {
    auto& list = List().blocks;
    if (list.size() < kMaxCached) {
      list.push_back(p);
    } else {
      ::operator delete(p);
    }
  }

 private:
  static constexpr size_t kMaxCached = 1024;
  struct FreeList {
    std::vector<void*> blocks;
    ~FreeList() {
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
