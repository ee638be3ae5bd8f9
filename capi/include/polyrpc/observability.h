/*
 * polyrpc/observability.h - the library's log (levels, and a callback that routes it into the
 * host's own logger), call metrics (calls started and finished by status code, message bytes,
 * latency histograms; for clients and servers), their Prometheus text and HTTP endpoint, and
 * W3C trace context propagation.
 *
 * The initial log level comes from the environment variable POLYRPC_LOG_LEVEL (debug, info,
 * warning, error, none; default warning); trace propagation from POLYRPC_TRACEPARENT=1.
 * Every function here is process-wide and thread-safe.
 */
#ifndef POLYRPC_OBSERVABILITY_H
#define POLYRPC_OBSERVABILITY_H

#include "polyrpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Log levels, in order; a message below the current level is dropped. Since 0.2. */
typedef enum polyrpc_log_level {
  POLYRPC_LOG_DEBUG = 0,
  POLYRPC_LOG_INFO = 1,
  POLYRPC_LOG_WARNING = 2,
  POLYRPC_LOG_ERROR = 3,
  POLYRPC_LOG_NONE = 4
} polyrpc_log_level_t;

/* Receives one log message: level (a polyrpc_log_level_t), component ("server", "channel",
 * "metrics", ...) and message (one line, no newline), both NUL-terminated and borrowed for the
 * duration of the call only. Runs on the thread that logs, often an I/O thread, never under an
 * internal lock; it must not block, and must not call polyrpc_log_set_callback. Since 0.2. */
typedef void (*polyrpc_log_fn)(int level, const char *component, const char *message,
                               void *user_data);

/* Sets the log level (a polyrpc_log_level_t). Thread-safe. Errors: INVALID_ARGUMENT (not a
 * level). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_log_set_level(int level);

/* The current log level (a polyrpc_log_level_t). Thread-safe. Errors: none. Since 0.2. */
POLYRPC_API int polyrpc_log_level(void);

/* Routes the log to fn(level, component, message, user_data) instead of stderr; fn NULL: back
 * to stderr. The previous callback's user_data_free(user_data) (when given) runs once it can
 * no longer be called: here, or after a message being delivered to it on another thread.
 * Thread-safe. Errors: none returned other than OK. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_log_set_callback(polyrpc_log_fn fn, void *user_data,
                                                     void (*user_data_free)(void *));

/* One metric of this process by name: "client.calls_started", "server.calls_finished" (all
 * codes), "server.calls_finished.NOT_FOUND" (one code, by polyrpc_status_code_name),
 * "client.bytes_sent", "server.bytes_received" (message bytes as framed: after compression,
 * with the 5-byte prefix), "server.latency_count", "server.latency_sum_us",
 * "client.latency_bucket.LE" (calls that took at most LE microseconds, cumulative; LE one of
 * 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
 * 2500000, 5000000, 10000000, or "inf"). Latency is from the first operation (client) or the
 * request headers (server) to the status. Thread-safe. Errors: INVALID_ARGUMENT (name or value
 * NULL), NOT_FOUND (no such metric). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_metrics_get(const char *name, uint64_t *value);

/* Every metric in Prometheus' text exposition format (version 0.0.4): *out (owned by the
 * caller, polyrpc_buffer_destroy) holds UTF-8 text followed by a NUL its length does not
 * count. Thread-safe. Errors: INVALID_ARGUMENT (out NULL). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_metrics_text(polyrpc_buffer_t **out);

/* Serves GET /metrics (the text above) over HTTP/1.1 on address ("127.0.0.1:9464"; a numeric
 * IPv4 or IPv6 address, or localhost; port 0 picks a free one), for Prometheus to scrape, from
 * a thread of its own until the process exits. *port (may be NULL) gets the bound port.
 * Thread-safe. Errors: INVALID_ARGUMENT (address NULL), IO (cannot parse or bind the address).
 * Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_metrics_serve(const char *address, int *port);

/* Turns W3C trace context propagation on (enabled != 0) or off: every client call created
 * without a "traceparent" in its metadata then gets one (a new trace, or a child span of the
 * traceparent set with polyrpc_trace_set_current on the calling thread). Thread-safe.
 * Errors: none returned other than OK. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_trace_set_propagation(int enabled);

/* Sets the calling thread's current traceparent (copied; NULL or "" clears it), e.g. the one a
 * server call arrived with, so that the client calls this thread makes continue that trace.
 * Thread-local. Errors: INVALID_ARGUMENT (not a valid W3C traceparent). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_trace_set_current(const char *traceparent);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_OBSERVABILITY_H */
