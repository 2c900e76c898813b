// What one answered request leaves behind for metrics and the access log.
// Filled by the exchange as the request progresses, handed to the worker's
// recorder once the last response byte is written (or the exchange ends).
#pragma once

#include <cstddef>
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
  bool in_flight = false;  // counted in requests_in_flight (begin() was called)
  RawPath path;            // the normalized path, for the route's top paths
  void clear() { *this = RequestRecord(); }
};

// Monotonic clock in nanoseconds.
uint64_t monotonic_ns();

}  // namespace routemeter
