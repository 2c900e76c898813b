// What one answered request leaves behind for metrics and the access log.
// Filled by the exchange as the request progresses, handed to the worker's
// recorder once the last response byte is written (or the exchange ends).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/http.hpp"
#include "routemeter/retry_policy.hpp"

namespace routemeter {

struct Route;

// Upstream fault kinds (the `kind` label of upstream_errors_total).
enum class UpstreamError : uint8_t {
  kNone,
  kConnectRefused,
  kConnectTimeout,
  kResponseTimeout,
  kReset,
  kBadResponse,
  kNoHealthyServer,  // answered 502 without trying a server (an upstream without one)
};
std::string_view upstream_error_name(UpstreamError e);
// The one status a proxy-made answer to each fault gets: 504 for the
// timeouts, 502 for the rest (0 for kNone).
int upstream_error_status(UpstreamError e);

// When the upstream side of one exchange reached each phase (monotonic_ns;
// 0: not reached). The exchange fills them for the attempt that answered.
struct UpstreamTimes {
  uint64_t connect_start_ns = 0;  // a new connection's connect began
  uint64_t connected_ns = 0;      // ... and completed (0 for a pooled connection)
  uint64_t sent_ns = 0;           // the request's last byte was written upstream
  uint64_t head_ns = 0;           // the final response head was parsed
};

// One attempt of a request that failed and was tried again: the server it
// went to, why it was retried, the fault (kNone for an answer or a stale
// connection) and the status it stands for (the server's 5xx, the proxy's
// 502/504 for a fault, 0 for a stale connection, which reached no server).
struct RetriedAttempt {
  int32_t server = -1;
  uint16_t status = 0;
  UpstreamError error = UpstreamError::kNone;
  RetryReason reason = RetryReason::kConnectFailure;
};
// The attempts one request can retry: `retries` at most, and one stale
// keep-alive connection.
constexpr size_t kMaxRetriedAttempts = kMaxRetries + 1;
struct RetriedAttempts {
  RetriedAttempt at[kMaxRetriedAttempts];
  uint8_t count = 0;
};

// Copies a short string of any length, 8 bytes at a time. For the request
// path's copies: GCC inlines a memcpy of a variable length as `rep movs`,
// whose start-up cost was a third of recording a request.
inline void copy_short(char* to, std::string_view from) {
  size_t i = 0;
  for (; i + 8 <= from.size(); i += 8) __builtin_memcpy(to + i, from.data() + i, 8);
  for (; i < from.size(); ++i) to[i] = from[i];
}

// A request's normalized path without its query, as GET /debug/paths counts
// it (top_paths.hpp): a copy, since the head it came from is gone by the time
// the request is recorded. A path longer than kMaxBytes keeps its first
// kMaxBytes bytes and is marked truncated. Never allocates.
struct RawPath {
  static constexpr size_t kMaxBytes = 128;
  char bytes[kMaxBytes];
  uint16_t size = 0;  // 0: no path (the request was rejected before it had one)
  bool truncated = false;
  void assign(std::string_view path);
  std::string_view view() const { return {bytes, size}; }
};

// The trace id of a request's W3C `traceparent` header (Trace Context
// level 1), for the exemplars of the duration histogram. Zero: none (no
// header, more than one, or not a valid one).
struct TraceId {
  uint64_t high = 0;  // the first 16 hex digits
  uint64_t low = 0;   // the last 16
  bool valid() const { return (high | low) != 0; }
  bool operator==(const TraceId&) const = default;
};
// `version-traceid-parentid-flags`, lower-case hex: version 00 exactly 55
// characters; a later version (not ff) at least that, with '-' after the
// flags if longer; trace id and parent id not all zeros. Pure.
bool parse_traceparent(std::string_view value, TraceId& out);
// The trace id of the one `traceparent` among `headers`; zero if none, more
// than one, or invalid. Pure; compares names by length first (cheap).
TraceId find_trace_id(const std::vector<http::Header>& headers);
// The 32 lower-case hex digits.
std::string trace_id_hex(const TraceId& id);

struct RequestRecord {
  const Route* route = nullptr;  // nullptr: unmatched (or rejected before routing)
  http::Method method = http::Method::kOther;
  int status = 0;
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
  uint64_t start_ns = 0;  // monotonic: request head read
  uint64_t end_ns = 0;    // monotonic: last response byte written
  int64_t server = -1;    // index of the upstream server used, -1 if none
  UpstreamError error = UpstreamError::kNone;
  UpstreamTimes upstream_times;  // connect and header durations
  RetriedAttempts retried;       // the attempts before the last one
  bool in_flight = false;        // counted in requests_in_flight (begin() was called)
  RawPath path;                  // the normalized path, for the route's top paths
  TraceId trace_id;              // from traceparent, for the histogram's exemplars
  void clear() { *this = RequestRecord(); }
};

// Monotonic clock in nanoseconds.
uint64_t monotonic_ns();

}  // namespace routemeter
