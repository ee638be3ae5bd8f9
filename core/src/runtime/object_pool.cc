#include "runtime/object_pool.h"

#include <mutex>

namespace polyrpc {

namespace {
// Never destroyed: threads may exit (and unregister) during static destruction.
std::mutex& Mu() {
  static auto* mu = new std::mutex;
  return *mu;
}
object_pool_internal::Registered* g_head = nullptr;
}  // namespace

namespace object_pool_internal {

void Register(Registered* r) {
  std::lock_guard<std::mutex> lock(Mu());
  r->prev = nullptr;
  r->next = g_head;
  if (g_head != nullptr) g_head->prev = r;
  g_head = r;
}

void Unregister(Registered* r) {
  std::lock_guard<std::mutex> lock(Mu());
  if (r->prev != nullptr) {
    r->prev->next = r->next;
  } else {
    g_head = r->next;
  }
  if (r->next != nullptr) r->next->prev = r->prev;
}

}  // namespace object_pool_internal

size_t ObjectPoolCachedBytes() {
  std::lock_guard<std::mutex> lock(Mu());
  size_t n = 0;
  for (auto* r = g_head; r != nullptr; r = r->next) n += r->bytes.load(std::memory_order_relaxed);
  return n;
}

}  // namespace polyrpc
