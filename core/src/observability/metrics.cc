#include "observability/metrics.h"

#include <mutex>

namespace polyrpc::metrics {

namespace {
std::atomic<Shard*> g_shards{nullptr};
}  // namespace

Shard& Local() {
  thread_local Shard* shard = [] {
    auto* s = new Shard();  // never freed: its counts outlive the thread
    Shard* head = g_shards.load(std::memory_order_relaxed);
    do {
      s->next = head;
    } while (!g_shards.compare_exchange_weak(head, s, std::memory_order_release,
                                             std::memory_order_relaxed));
    return s;
  }();
  return *shard;
}

void CallFinished(Side s, int code, int64_t start_ns) {
  Shard::PerSide& p = Local().side[s];
  Add(p.finished[code >= 0 && code < kCodes ? code : 2], 1);  // out of range: UNKNOWN
  if (start_ns <= 0) return;
  int64_t us = (NowNs() - start_ns) / 1000;
  if (us < 0) us = 0;
  int b = 0;
  while (b < kLatencyBuckets - 1 && us > kLatencyBoundsUs[b]) ++b;
  Add(p.latency[b], 1);
  Add(p.latency_sum_us, static_cast<uint64_t>(us));
}

Snapshot Read() {
  Snapshot out;
  for (Shard* s = g_shards.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    for (int i = 0; i < 2; ++i) {
      const Shard::PerSide& p = s->side[i];
      Snapshot::PerSide& o = out.side[i];
      o.started += p.started.load(std::memory_order_relaxed);
      for (int c = 0; c < kCodes; ++c) o.finished[c] += p.finished[c].load(std::memory_order_relaxed);
      o.bytes_sent += p.bytes_sent.load(std::memory_order_relaxed);
      o.bytes_received += p.bytes_received.load(std::memory_order_relaxed);
      for (int b = 0; b < kLatencyBuckets; ++b) o.latency[b] += p.latency[b].load(std::memory_order_relaxed);
      o.latency_sum_us += p.latency_sum_us.load(std::memory_order_relaxed);
    }
  }
  return out;
}

}  // namespace polyrpc::metrics
