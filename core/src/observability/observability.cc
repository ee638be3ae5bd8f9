// The log, the Prometheus text of the call metrics and its HTTP endpoint, and traceparent
// helpers (polyrpc++/observability.hpp).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "observability/metrics.h"
#include "polyrpc++/observability.hpp"
#include "polyrpc++/status.hpp"

namespace polyrpc {

// ---- Log ----------------------------------------------------------------------------------

namespace {

const char* const kLevelNames[] = {"debug", "info", "warning", "error", "none"};

LogLevel InitialLevel() {
  LogLevel l = LogLevel::kWarning;
  const char* env = std::getenv("POLYRPC_LOG_LEVEL");
  if (env != nullptr && *env != '\0' && !ParseLogLevel(env, &l)) {
    std::fprintf(stderr, "polyrpc: POLYRPC_LOG_LEVEL=%s is none of debug, info, warning, "
                         "error, none; using warning\n", env);
  }
  return l;
}

std::atomic<int>& Level() {
  static std::atomic<int> level{static_cast<int>(InitialLevel())};
  return level;
}

std::mutex& SinkMutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}
std::shared_ptr<LogSink>& Sink() {
  static auto* sink = new std::shared_ptr<LogSink>();
  return *sink;
}

void DefaultSink(LogLevel level, const char* component, const char* message) {
  char when[32];
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  struct tm tm;
  gmtime_r(&t, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::fprintf(stderr, "%s.%03dZ polyrpc %c %s: %s\n", when, ms,
               "DIWEN"[static_cast<int>(level)], component, message);
}

}  // namespace

bool ParseLogLevel(const std::string& name, LogLevel* level) {
  for (int i = 0; i < 5; ++i) {
    if (name == kLevelNames[i]) {
      *level = static_cast<LogLevel>(i);
      return true;
    }
  }
  if (name == "warn") {
    *level = LogLevel::kWarning;
    return true;
  }
  return false;
}

void SetLogSink(LogSink sink) {
  auto p = sink ? std::make_shared<LogSink>(std::move(sink)) : nullptr;
  std::lock_guard<std::mutex> lock(SinkMutex());
  Sink() = std::move(p);
}

void SetLogLevel(LogLevel level) { Level().store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(Level().load()); }
bool LogEnabled(LogLevel level) {
  return level != LogLevel::kNone &&
         static_cast<int>(level) >= Level().load(std::memory_order_relaxed);
}

void Log(LogLevel level, const char* component, const std::string& message) {
  if (!LogEnabled(level)) return;
  std::shared_ptr<LogSink> sink;
  {
    std::lock_guard<std::mutex> lock(SinkMutex());
    sink = Sink();
  }
  if (sink) {
    (*sink)(level, component, message.c_str());  // no lock held
  } else {
    DefaultSink(level, component, message.c_str());
  }
}

// ---- Metrics ------------------------------------------------------------------------------

namespace {

const char* const kSideNames[] = {"client", "server"};

std::string Bound(int b) {
  if (b >= metrics::kLatencyBuckets - 1) return "+Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", metrics::kLatencyBoundsUs[b] / 1e6);
  return buf;
}

}  // namespace

std::string MetricsText() {
  metrics::Snapshot s = metrics::Read();
  std::string out;
  char line[256];
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof line, fmt, args...);
    out += line;
  };
  for (int side = 0; side < 2; ++side) {
    const char* n = kSideNames[side];
    const auto& p = s.side[side];
    add("# HELP polyrpc_%s_calls_started_total %s calls started.\n", n,
        side ? "Server" : "Client");
    add("# TYPE polyrpc_%s_calls_started_total counter\n", n);
    add("polyrpc_%s_calls_started_total %llu\n", n, static_cast<unsigned long long>(p.started));
    add("# HELP polyrpc_%s_calls_finished_total %s calls finished, by gRPC status code.\n", n,
        side ? "Server" : "Client");
    add("# TYPE polyrpc_%s_calls_finished_total counter\n", n);
    for (int c = 0; c < metrics::kCodes; ++c) {
      add("polyrpc_%s_calls_finished_total{code=\"%s\"} %llu\n", n,
          StatusCodeName(static_cast<StatusCode>(c)), static_cast<unsigned long long>(p.finished[c]));
    }
    add("# HELP polyrpc_%s_bytes_sent_total Message bytes sent (as framed, after compression).\n", n);
    add("# TYPE polyrpc_%s_bytes_sent_total counter\n", n);
    add("polyrpc_%s_bytes_sent_total %llu\n", n, static_cast<unsigned long long>(p.bytes_sent));
    add("# HELP polyrpc_%s_bytes_received_total Message bytes received (as framed).\n", n);
    add("# TYPE polyrpc_%s_bytes_received_total counter\n", n);
    add("polyrpc_%s_bytes_received_total %llu\n", n,
        static_cast<unsigned long long>(p.bytes_received));
    add("# HELP polyrpc_%s_call_duration_seconds %s call latency, start to status.\n", n,
        side ? "Server" : "Client");
    add("# TYPE polyrpc_%s_call_duration_seconds histogram\n", n);
    uint64_t cumulative = 0;
    for (int b = 0; b < metrics::kLatencyBuckets; ++b) {
      cumulative += p.latency[b];
      add("polyrpc_%s_call_duration_seconds_bucket{le=\"%s\"} %llu\n", n, Bound(b).c_str(),
          static_cast<unsigned long long>(cumulative));
    }
    add("polyrpc_%s_call_duration_seconds_sum %.6f\n", n, p.latency_sum_us / 1e6);
    add("polyrpc_%s_call_duration_seconds_count %llu\n", n,
        static_cast<unsigned long long>(cumulative));
  }
  return out;
}

bool MetricValue(const std::string& name, uint64_t* value) {
  size_t dot = name.find('.');
  if (dot == std::string::npos) return false;
  std::string side_name = name.substr(0, dot), rest = name.substr(dot + 1);
  int side = side_name == "client" ? 0 : side_name == "server" ? 1 : -1;
  if (side < 0) return false;
  metrics::Snapshot s = metrics::Read();
  const auto& p = s.side[side];
  uint64_t total = 0;
  for (int b = 0; b < metrics::kLatencyBuckets; ++b) total += p.latency[b];
  if (rest == "calls_started") {
    *value = p.started;
  } else if (rest == "calls_finished") {
    *value = 0;
    for (uint64_t f : p.finished) *value += f;
  } else if (rest.rfind("calls_finished.", 0) == 0) {
    std::string code = rest.substr(15);
    for (int c = 0; c < metrics::kCodes; ++c) {
      if (code == StatusCodeName(static_cast<StatusCode>(c))) {
        *value = p.finished[c];
        return true;
      }
    }
    return false;
  } else if (rest == "bytes_sent") {
    *value = p.bytes_sent;
  } else if (rest == "bytes_received") {
    *value = p.bytes_received;
  } else if (rest == "latency_count") {
    *value = total;
  } else if (rest == "latency_sum_us") {
    *value = p.latency_sum_us;
  } else if (rest.rfind("latency_bucket.", 0) == 0) {
    std::string le = rest.substr(15);
    uint64_t cumulative = 0;
    for (int b = 0; b < metrics::kLatencyBuckets; ++b) {
      cumulative += p.latency[b];
      bool last = b == metrics::kLatencyBuckets - 1;
      if ((last && le == "inf") || (!last && le == std::to_string(metrics::kLatencyBoundsUs[b]))) {
        *value = cumulative;
        return true;
      }
    }
    return false;
  } else {
    return false;
  }
  return true;
}

namespace {

void ServeMetricsConnection(int fd) {
  std::string req;
  char buf[2048];
  // A request line and headers within a second, at most 16 KiB.
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  std::string status = "404 Not Found", body = "try /metrics\n";
  std::string type = "text/plain; charset=utf-8";
  if (req.rfind("GET /metrics ", 0) == 0 || req.rfind("GET /metrics?", 0) == 0) {
    status = "200 OK";
    body = MetricsText();
    type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (req.rfind("GET ", 0) != 0 && req.rfind("HEAD ", 0) != 0) {
    status = "405 Method Not Allowed";
    body = "GET /metrics\n";
  }
  std::string resp = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                     "\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\n\r\n";
  if (req.rfind("HEAD ", 0) != 0) resp += body;
  size_t off = 0;
  while (off < resp.size()) {
    ssize_t n = send(fd, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(fd);
}

}  // namespace

int ServeMetrics(const std::string& address, std::string* error) {
  std::string host, port_text;
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    if (error) *error = "address must be HOST:PORT";
    return -1;
  }
  host = address.substr(0, colon);
  port_text = address.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  int port = std::atoi(port_text.c_str());
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (inet_pton(AF_INET, host.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    if (error) *error = "not a numeric IP address: " + host;
    return -1;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 16) != 0) {
    if (error) *error = std::string("cannot listen on ") + address + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    return -1;
  }
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int bound = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                      : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  std::thread([fd] {
    for (;;) {
      int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
        return;
      }
      ServeMetricsConnection(c);
    }
  }).detach();
  Log(LogLevel::kInfo, "metrics", "serving /metrics on port " + std::to_string(bound));
  return bound;
}

// ---- Trace context ------------------------------------------------------------------------

namespace {
std::string RandomHex(size_t bytes) {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   static_cast<uint64_t>(metrics::NowNs()));
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  while (out.size() < bytes * 2) {
    uint64_t v = rng();
    for (int i = 0; i < 16 && out.size() < bytes * 2; ++i, v >>= 4) out += kHex[v & 15];
  }
  if (out.find_first_not_of('0') == std::string::npos) out[0] = '1';  // all zero is invalid
  return out;
}
bool Hex(const std::string& s, size_t from, size_t n) {
  for (size_t i = from; i < from + n; ++i) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return s.substr(from, n).find_first_not_of('0') != std::string::npos;
}
}  // namespace

bool ValidTraceparent(const std::string& v) {
  // version "-" trace-id "-" parent-id "-" flags; version ff is invalid; 00 has this length.
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  if (v.substr(0, 2) == "ff" || (v.substr(0, 2) == "00" && v.size() != 55)) return false;
  auto hex_any = [&](size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i) {
      char c = v[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
  };
  return hex_any(0, 2) && Hex(v, 3, 32) && Hex(v, 36, 16) && hex_any(53, 2);
}

std::string NewTraceparent() { return "00-" + RandomHex(16) + "-" + RandomHex(8) + "-01"; }

std::string ChildTraceparent(const std::string& parent) {
  if (!ValidTraceparent(parent)) return NewTraceparent();
  return "00-" + parent.substr(3, 32) + "-" + RandomHex(8) + "-" + parent.substr(53, 2);
}

namespace {
std::atomic<bool>& Propagation() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("POLYRPC_TRACEPARENT");
    return env != nullptr && (std::strcmp(env, "1") == 0 || std::strcmp(env, "true") == 0);
  }()};
  return on;
}
thread_local std::string t_current;
}  // namespace

void SetTracePropagation(bool enabled) { Propagation().store(enabled); }
bool TracePropagationEnabled() { return Propagation().load(std::memory_order_relaxed); }
const std::string& CurrentTraceparent() { return t_current; }

ScopedTraceparent::ScopedTraceparent(const std::string& traceparent) : saved_(t_current) {
  t_current = ValidTraceparent(traceparent) ? traceparent : std::string();
}
ScopedTraceparent::~ScopedTraceparent() { t_current = std::move(saved_); }

}  // namespace polyrpc
