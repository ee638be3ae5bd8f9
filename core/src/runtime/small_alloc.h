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
// the list is full), so every thread that frees blocks may keep up to 2 MiB until it exits.
// Blocks over kSmallAllocMaxSmall bytes go to malloc directly. Under a sanitizer (address,
// thread, memory) every block goes to malloc and back, so the sanitizer sees every free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

// Under a sanitizer every block goes to malloc and back: ASan keeps seeing use-after-free, TSan
// and MSan keep tracking frees and uninitialised bytes.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define POLYRPC_SMALL_ALLOC_POOLS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define POLYRPC_SMALL_ALLOC_POOLS 0
#endif
#endif
#ifndef POLYRPC_SMALL_ALLOC_POOLS
#define POLYRPC_SMALL_ALLOC_POOLS 1
#endif

namespace polyrpc {

// Throws std::bad_alloc when memory is exhausted.
void* SmallAlloc(size_t n);
void SmallFree(void* p) noexcept;
// realloc(3) for blocks from SmallAlloc: p may be null; null (p untouched) when memory is
// exhausted, never a throw; n == 0 gives a usable empty block.
void* SmallRealloc(void* p, size_t n);
// For tests: blocks, and their bytes, cached by the calling thread; blocks given back to malloc
// by exiting threads so far.
size_t SmallAllocCachedBlocks();
size_t SmallAllocCachedBytes();
size_t SmallAllocDrainedBlocks();
// Bytes cached by every live thread's lists (a snapshot: each thread changes its own as it
// goes). Memory that is free for reuse, not in use: what a leak check subtracts.
size_t SmallAllocAllThreadsCachedBytes();

constexpr size_t kSmallAllocMaxSmall = 1024;

// For std::allocate_shared, shared_ptr control blocks and node-based containers.
template <typename T>
struct SmallAllocator {
  static_assert(alignof(T) <= 16, "SmallAlloc blocks are 16-byte aligned");
  using value_type = T;
  SmallAllocator() noexcept = default;
  template <typename U>
  SmallAllocator(const SmallAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(SmallAlloc(n * sizeof(T)));
  }
  void deallocate(T* p, size_t) noexcept { SmallFree(p); }
  template <typename U>
  bool operator==(const SmallAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace polyrpc
