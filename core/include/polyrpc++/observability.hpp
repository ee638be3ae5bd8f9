// Observability: polyrpc's log (levels, and a sink that routes it into the host's logger), call
// metrics (calls started and finished by status code, message bytes, latency histograms, for
// clients and servers) in Prometheus' text format and on an HTTP endpoint, and W3C trace
// context (traceparent) helpers.
//
//   POLYRPC_LOG_LEVEL=debug|info|warning|error|none   (environment; default warning)
//   polyrpc::SetLogSink([](polyrpc::LogLevel l, const char* component, const char* msg) {...});
//   int port = polyrpc::ServeMetrics("127.0.0.1:9464");   // GET /metrics
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace polyrpc {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kNone = 4 };

// component: "server", "channel", "transport", ...; message: one line, no newline. Called on
// the thread that logs (often an I/O thread), never under an internal lock; must not block.
using LogSink = std::function<void(LogLevel level, const char* component, const char* message)>;

// Replaces the sink (nullptr: the default, stderr). Thread-safe.
void SetLogSink(LogSink sink);
// Messages below level are dropped (cheaply: LogEnabled is one relaxed load). Thread-safe. The
// initial level comes from POLYRPC_LOG_LEVEL.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool LogEnabled(LogLevel level);
void Log(LogLevel level, const char* component, const std::string& message);
// "debug", "info", "warning", "error", "none"; false if name is none of those.
bool ParseLogLevel(const std::string& name, LogLevel* level);

// The call metrics of this process in Prometheus' text exposition format (version 0.0.4):
// polyrpc_{client,server}_calls_started_total, _calls_finished_total{code="..."},
// _bytes_sent_total, _bytes_received_total (message bytes, after compression, with their
// 5-byte prefix), _call_duration_seconds (histogram).
std::string MetricsText();
// One value by name: "client.calls_started", "server.calls_finished" (all codes),
// "server.calls_finished.NOT_FOUND", "client.bytes_sent", "server.bytes_received",
// "server.latency_count", "server.latency_sum_us", "server.latency_bucket.<le_us>|inf"
// (cumulative, as Prometheus). False if there is no such name.
bool MetricValue(const std::string& name, uint64_t* value);
// Serves GET /metrics (MetricsText) over HTTP/1.1 on address ("127.0.0.1:9464", port 0 picks
// one) from a thread of its own, until the process exits. Returns the port, or -1 and *error.
int ServeMetrics(const std::string& address, std::string* error = nullptr);

// W3C trace context. A new traceparent ("00-<32 hex trace id>-<16 hex span id>-01"), and one
// for a child span of parent (same trace id and flags, a new span id; a new trace if parent is
// not a valid traceparent).
std::string NewTraceparent();
std::string ChildTraceparent(const std::string& parent);
bool ValidTraceparent(const std::string& value);

// Trace propagation, off by default (POLYRPC_TRACEPARENT=1 in the environment turns it on):
// every client call whose metadata has no "traceparent" gets one, a child span of this
// thread's current traceparent, or a new trace; and the typed server layer (proto.hpp) runs
// each handler with the incoming call's traceparent as the current one, so that the calls a
// handler makes carry its trace on. Thread-safe.
void SetTracePropagation(bool enabled);
bool TracePropagationEnabled();
// This thread's current traceparent ("" if none).
const std::string& CurrentTraceparent();
// Makes traceparent this thread's current one for the scope (an invalid one: none).
class ScopedTraceparent {
 public:
  explicit ScopedTraceparent(const std::string& traceparent);
  ~ScopedTraceparent();
  ScopedTraceparent(const ScopedTraceparent&) = delete;
  ScopedTraceparent& operator=(const ScopedTraceparent&) = delete;

 private:
  std::string saved_;
};

}  // namespace polyrpc
