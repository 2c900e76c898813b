// What one answered request leaves behind for metrics and the access log.
// Filled by the exchange as the request progresses, handed to the worker's
// recorder once the last response byte is written (or the exchange ends).
#pragma once

#include <cstdint>
#include <string_view>

#include "routemeter/http.hpp"

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
  bool in_flight = false;        // counted in requests_in_flight (begin() was called)
  void clear() { *this = RequestRecord(); }
};

// Monotonic clock in nanoseconds.
uint64_t monotonic_ns();

}  // namespace routemeter
