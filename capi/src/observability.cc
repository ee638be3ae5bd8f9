// polyrpc/observability.h over the core's log, metrics and trace context
// (polyrpc++/observability.hpp).
#include "polyrpc/observability.h"

#include <memory>
#include <mutex>

#include "internal.h"
#include "polyrpc++/observability.hpp"

namespace polyrpc::capi {
namespace {

// The callback with its user_data; user_data_free runs when the last copy of the sink goes
// (a message being delivered on another thread holds one).
struct LogCallback {
  LogCallback(polyrpc_log_fn f, void* u, void (*uf)(void*))
      : fn(f), user_data(u), user_data_free(uf) {}
  LogCallback(const LogCallback&) = delete;
  LogCallback& operator=(const LogCallback&) = delete;
  polyrpc_log_fn fn;
  void* user_data;
  void (*user_data_free)(void*);
  ~LogCallback() {
    if (user_data_free) user_data_free(user_data);
  }
};

}  // namespace
}  // namespace polyrpc::capi

using namespace polyrpc::capi;

extern "C" {

polyrpc_error_t polyrpc_log_set_level(int level) {
  POLYRPC_API_TRY
  RequireArg(level >= POLYRPC_LOG_DEBUG && level <= POLYRPC_LOG_NONE,
             "level is not a polyrpc_log_level_t");
  polyrpc::SetLogLevel(static_cast<polyrpc::LogLevel>(level));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

int polyrpc_log_level(void) { return static_cast<int>(polyrpc::GetLogLevel()); }

polyrpc_error_t polyrpc_log_set_callback(polyrpc_log_fn fn, void* user_data,
                                         void (*user_data_free)(void*)) {
  POLYRPC_API_TRY
  if (fn == nullptr) {
    polyrpc::SetLogSink(nullptr);
    if (user_data_free) user_data_free(user_data);
    return POLYRPC_OK;
  }
  auto cb = std::make_shared<LogCallback>(fn, user_data, user_data_free);
  polyrpc::SetLogSink([cb](polyrpc::LogLevel level, const char* component, const char* message) {
    cb->fn(static_cast<int>(level), component, message, cb->user_data);
  });
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_metrics_get(const char* name, uint64_t* value) {
  POLYRPC_API_TRY
  RequireArg(name != nullptr, "name is NULL");
  RequireArg(value != nullptr, "value is NULL");
  if (!polyrpc::MetricValue(name, value)) {
    Throw(POLYRPC_ERROR_NOT_FOUND, std::string("no metric \"") + name + "\"");
  }
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_metrics_text(polyrpc_buffer_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  auto b = std::make_unique<BufferHandle>();
  b->slice = polyrpc::Slice::FromString(polyrpc::MetricsText());
  *out = reinterpret_cast<polyrpc_buffer_t*>(b.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_metrics_serve(const char* address, int* port) {
  POLYRPC_API_TRY
  RequireArg(address != nullptr, "address is NULL");
  std::string error;
  int bound = polyrpc::ServeMetrics(address, &error);
  if (bound < 0) Throw(POLYRPC_ERROR_IO, error);
  if (port) *port = bound;
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_trace_set_propagation(int enabled) {
  POLYRPC_API_TRY
  polyrpc::SetTracePropagation(enabled != 0);
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_trace_set_current(const char* traceparent) {
  POLYRPC_API_TRY
  static thread_local std::unique_ptr<polyrpc::ScopedTraceparent> current;
  if (traceparent == nullptr || *traceparent == '\0') {
    current.reset();  // restores the thread's traceparent from before the first set: none
    return POLYRPC_OK;
  }
  RequireArg(polyrpc::ValidTraceparent(traceparent), "not a valid W3C traceparent");
  current.reset();
  current = std::make_unique<polyrpc::ScopedTraceparent>(traceparent);
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

}  // extern "C"
