// Process-wide call metrics: calls started and finished by status code, message bytes sent and
// received, and a latency histogram, for clients and servers apart (polyrpc++/observability.hpp
// reads them; the C ABI and the Prometheus endpoint print them). Counted on the hot path, so
// each thread counts into a shard of its own (no shared cache line between I/O threads); a
// reader sums the shards. Shards outlive their threads (what they counted stays counted).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace polyrpc::metrics {

enum Side : int { kClient = 0, kServer = 1 };
constexpr int kCodes = 17;
// Upper bounds of the latency buckets in microseconds (the last bucket is +Inf).
constexpr int64_t kLatencyBoundsUs[] = {100,    250,    500,     1000,    2500,   5000,
                                        10000,  25000,  50000,   100000,  250000, 500000,
                                        1000000, 2500000, 5000000, 10000000};
constexpr int kLatencyBuckets = sizeof(kLatencyBoundsUs) / sizeof(kLatencyBoundsUs[0]) + 1;

struct alignas(64) Shard {
  struct PerSide {
    std::atomic<uint64_t> started{0};
    std::atomic<uint64_t> finished[kCodes] = {};
    std::atomic<uint64_t> bytes_sent{0};
    std::atomic<uint64_t> bytes_received{0};
    std::atomic<uint64_t> latency[kLatencyBuckets] = {};
    std::atomic<uint64_t> latency_sum_us{0};
  } side[2];
  Shard* next = nullptr;
};

// This thread's shard (registered on first use).
Shard& Local();

inline void Add(std::atomic<uint64_t>& c, uint64_t n) {
  // Only this thread writes its shard: a relaxed load and store, no locked instruction.
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline void CallStarted(Side s) { Add(Local().side[s].started, 1); }
// code: the call's status code; start_ns: NowNs() when it started (0: unknown, no latency).
void CallFinished(Side s, int code, int64_t start_ns);
inline void BytesSent(Side s, uint64_t n) { Add(Local().side[s].bytes_sent, n); }
inline void BytesReceived(Side s, uint64_t n) { Add(Local().side[s].bytes_received, n); }

// A sum over every shard.
struct Snapshot {
  struct PerSide {
    uint64_t started = 0;
    uint64_t finished[kCodes] = {};
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
    uint64_t latency[kLatencyBuckets] = {};  // per bucket, not cumulative
    uint64_t latency_sum_us = 0;
  } side[2];
};
Snapshot Read();

}  // namespace polyrpc::metrics
