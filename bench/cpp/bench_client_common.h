// Shared pieces of the C++ client loops (polyrpc_bench_client.cc, grpcxx_bench_client.cc): the
// command line, the timing loop and the JSON line bench/run reads. Both clients run the same
// loop over the same messages so that only the RPC stack differs between them.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpc/testing/messages.pb.h"

namespace bench {

struct Flags {
  std::string target = "127.0.0.1:50051";
  std::string scenario = "unary";  // unary | bidi | stream | hold
  int threads = 1;
  double duration = 2.0;  // seconds measured
  double warmup = 0.3;    // seconds run before measuring
  int req_size = 100;     // request payload bytes
  int resp_size = 100;    // response payload bytes
  int stream_messages = 1000;  // stream: responses per call
  int conns = 1;               // hold: connections
  int calls = 0;               // hold: streams held open
  double hold = 30.0;          // hold: seconds to keep them (or until stdin closes)
  int busy_poll_us = -2;       // polyrpc clients: channel option polyrpc.busy_poll_us (-2: unset)
};

inline Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (a.rfind("--", 0) != 0 || eq == std::string::npos) {
      std::fprintf(stderr, "flags are --name=value; bad: %s\n", a.c_str());
      std::exit(2);
    }
    std::string k = a.substr(2, eq - 2), v = a.substr(eq + 1);
    if (k == "target") f.target = v;
    else if (k == "scenario") f.scenario = v;
    else if (k == "threads") f.threads = std::atoi(v.c_str());
    else if (k == "duration") f.duration = std::atof(v.c_str());
    else if (k == "warmup") f.warmup = std::atof(v.c_str());
    else if (k == "req_size") f.req_size = std::atoi(v.c_str());
    else if (k == "resp_size") f.resp_size = std::atoi(v.c_str());
    else if (k == "stream_messages") f.stream_messages = std::atoi(v.c_str());
    else if (k == "conns") f.conns = std::atoi(v.c_str());
    else if (k == "calls") f.calls = std::atoi(v.c_str());
    else if (k == "hold") f.hold = std::atof(v.c_str());
    else if (k == "busy_poll_us") f.busy_poll_us = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown flag --%s\n", k.c_str());
      std::exit(2);
    }
  }
  return f;
}

inline grpc::testing::SimpleRequest MakeSimpleRequest(const Flags& f) {
  grpc::testing::SimpleRequest r;
  r.set_response_size(f.resp_size);
  r.mutable_payload()->mutable_body()->assign(static_cast<size_t>(f.req_size), 'x');
  return r;
}

inline grpc::testing::StreamingOutputCallRequest MakeStreamRequest(int count, int size,
                                                                   int payload) {
  grpc::testing::StreamingOutputCallRequest r;
  for (int i = 0; i < count; ++i) r.add_response_parameters()->set_size(size);
  if (payload > 0) r.mutable_payload()->mutable_body()->assign(static_cast<size_t>(payload), 'x');
  return r;
}

// Per-thread work: called repeatedly; returns the number of operations it completed (0 on
// error) and adds one latency sample per operation through record(us).
using Op = std::function<int(const std::function<void(double)>& record)>;

// Runs threads x op for warmup + duration and prints one JSON line:
// {"ops":N,"secs":S,"rate":N/S,"p50_us":..,"p99_us":..,"errors":E}
inline int RunLoop(const Flags& f, const std::function<Op(int thread)>& make_op) {
  using Clock = std::chrono::steady_clock;
  std::atomic<bool> measuring{false}, stop{false};
  std::mutex mu;
  std::vector<double> all;
  long total_ops = 0, total_errors = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < f.threads; ++t) {
    threads.emplace_back([&, t] {
      Op op = make_op(t);
      std::vector<double> lat;
      lat.reserve(1 << 16);
      long ops = 0, errors = 0;
      auto record = [&](double us) {
        if (measuring.load(std::memory_order_relaxed)) lat.push_back(us);
      };
      while (!stop.load(std::memory_order_relaxed)) {
        bool m = measuring.load(std::memory_order_relaxed);
        int n = op(record);
        if (!m) continue;
        if (n <= 0) ++errors; else ops += n;
        if (errors > 100) break;
      }
      std::lock_guard<std::mutex> lock(mu);
      all.insert(all.end(), lat.begin(), lat.end());
      total_ops += ops;
      total_errors += errors;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(f.warmup));
  auto t0 = Clock::now();
  measuring = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(f.duration));
  measuring = false;
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  for (auto& th : threads) th.join();
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf(
      "{\"ops\":%ld,\"secs\":%.4f,\"rate\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":%ld}\n",
      total_ops, secs, total_ops / secs, pct(0.50), pct(0.99), total_errors);
  std::fflush(stdout);
  return total_errors == 0 && total_ops > 0 ? 0 : 1;
}

inline double MicrosSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace bench
