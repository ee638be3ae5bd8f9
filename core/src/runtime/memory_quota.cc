#include "runtime/memory_quota.h"

#include <unistd.h>

namespace polyrpc {

bool MemoryQuota::ReserveHere(size_t n, int eighths) {
  int64_t want = static_cast<int64_t>(n);
  int64_t cur = used_.load(std::memory_order_relaxed);
  for (;;) {
    if (limit_ >= 0 && cur + want > limit_ / 8 * eighths) return false;
    if (used_.compare_exchange_weak(cur, cur + want, std::memory_order_relaxed)) break;
  }
  int64_t now = cur + want;
  int64_t peak = peak_.load(std::memory_order_relaxed);
  while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  return true;
}

bool MemoryQuota::TryReserve(size_t n, int eighths) {
  if (n == 0) return true;
  if (!ReserveHere(n, eighths)) return false;
  if (parent_ && !parent_->TryReserve(n, eighths)) {
    ReleaseHere(n);
    return false;
  }
  return true;
}

void MemoryQuota::Release(size_t n) {
  if (n == 0) return;
  ReleaseHere(n);
  if (parent_) parent_->Release(n);
}

int64_t DefaultServerMemoryLimit() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return int64_t{1} << 30;
  return static_cast<int64_t>(pages) * page / 2;
}

}  // namespace polyrpc
