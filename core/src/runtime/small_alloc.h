// SmallAlloc: per-thread free lists for the small blocks a call makes and drops by the dozen
// (nghttp2's streams, header lists and outbound items, shared-pointer control blocks, payload
// slices of small messages).
//
// Why: a server under load takes each of these for hundreds of streams in one loop turn and
// frees them in the next. glibc's per-thread cache holds seven blocks of a size, so most of a
// burst went through its arena bins (_int_malloc/_int_free were a tenth of the server's CPU);
// raising that cache by hand (GLIBC_TUNABLES tcache_count) cut the server's CPU per RPC by 15%.
// These lists keep up to 1024 blocks of each class and 2 MiB in all per thread, so a burst is
// served from the lists and the next burst reuses them.
//
// A block may be freed on any thread: it goes to that thread's list (or back to malloc once
// the list is full). Blocks over kMaxSmall bytes go to malloc directly. Under AddressSanitizer
// every block goes to malloc and back, so use-after-free stays visible.
#pragma once

#include <cstddef>

namespace polyrpc {

void* SmallAlloc(size_t n);
void SmallFree(void* p) noexcept;
// realloc(3) semantics for blocks from SmallAlloc (p may be null).
void* SmallRealloc(void* p, size_t n);
// Blocks, and their bytes, cached by the calling thread (for tests).
size_t SmallAllocCachedBlocks();
size_t SmallAllocCachedBytes();

constexpr size_t kSmallAllocMaxSmall = 1024;

// For std::allocate_shared, shared_ptr control blocks and node-based containers.
template <typename T>
struct SmallAllocator {
  using value_type = T;
  SmallAllocator() noexcept = default;
  template <typename U>
  SmallAllocator(const SmallAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(SmallAlloc(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { SmallFree(p); }
  template <typename U>
  bool operator==(const SmallAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace polyrpc
