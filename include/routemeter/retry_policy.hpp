// Retries: which failed attempt may be tried again (the reasons of an
// upstream's `retry_on`, the method), and the retry budget that keeps a dead
// upstream from doubling its load. Pure; docs/upstreams.md ("Retries")
// describes the rules, tests/unit/retry_policy_test.cpp checks them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "routemeter/http.hpp"

namespace routemeter {

// Why an attempt was tried again: the `reason` label of
// routemeter_upstream_retries_total. The first six are the values of
// `retry_on`; kStaleConnection is the keep-alive retry that is always on (a
// pooled connection the server had closed: the request never reached it).
enum class RetryReason : uint8_t {
  kConnectFailure,
  kReset,
  k502,
  k503,
  k504,
  kResponseTimeout,
  kStaleConnection,
};
constexpr size_t kRetryReasons = 7;
constexpr size_t kRetryOnValues = 6;  // the reasons `retry_on` may list
// The largest `retries` accepted (each retry is a whole attempt, with its own
// timeouts).
constexpr uint32_t kMaxRetries = 5;

// A set of reasons, one bit each (bit = 1 << reason).
using RetryOn = uint32_t;
constexpr RetryOn retry_bit(RetryReason r) { return RetryOn{1} << static_cast<unsigned>(r); }
constexpr RetryOn kDefaultRetryOn =
    retry_bit(RetryReason::kConnectFailure) | retry_bit(RetryReason::kReset);

std::string_view retry_reason_name(RetryReason r);
// A `retry_on` value ("connect_failure", "reset", "502", "503", "504",
// "response_timeout"); nullopt for anything else (also "stale_connection").
std::optional<RetryReason> parse_retry_on(std::string_view value);
// The reason a 502, 503 or 504 answer would be retried for; nullopt for
// any other status.
std::optional<RetryReason> retry_reason_for_status(int status);

// GET, HEAD, OPTIONS, PUT, DELETE, TRACE (RFC 9110 9.2.2).
bool is_idempotent(http::Method m);

// Whether a failed attempt may be tried again for `reason`, budget and the
// request body aside: the reason is in `retry_on` and, but for a connect
// failure (nothing was sent), the request is idempotent. A stale keep-alive
// connection needs an idempotent request only.
bool retry_permitted(RetryReason reason, bool idempotent, RetryOn retry_on);

// The retry budget of one upstream on one worker (DESIGN section 3:
// "retries in flight <= retry_budget x requests in flight, 3 always
// allowed"), plus a credit so that the count of retries, not only their
// concurrency, stays within the ratio: every request adds `ratio` to the
// credit, every retry takes 1, and a retry needs a whole one. The credit
// starts at kReserve and holds at most what the in-flight rule allows now
// (max(kReserve, ratio x requests in flight)), so a long healthy spell banks
// no storm. Over any stretch, retries <= ratio x requests + kReserve, even
// when every attempt fails at once (a refused connect is never "in flight"
// long enough for the first rule alone to bite). The stale keep-alive retry
// is outside the budget. One worker thread only; nothing allocates.
class RetryBudget {
 public:
  static constexpr uint32_t kReserve = 3;

  // `ratio` in [0, 1]; kept in thousandths, so the accounting is exact.
  explicit RetryBudget(double ratio = 0.2)
      : ratio_milli_(static_cast<uint64_t>(std::llround(ratio * 1000))) {}

  // A request to the upstream began / ended (`retries_held`: the retry
  // slots it took).
  void request_started() {
    ++requests_;
    credit_milli_ = std::min(credit_milli_ + ratio_milli_, cap_milli());
  }
  void request_finished(uint32_t retries_held) {
    --requests_;
    retries_ -= retries_held;
  }
  // Takes a retry slot (and a credit) if the budget allows one now.
  bool try_acquire() {
    if ((uint64_t{retries_} + 1) * 1000 > cap_milli() || credit_milli_ < 1000) return false;
    ++retries_;
    credit_milli_ -= 1000;
    return true;
  }

  uint32_t requests_in_flight() const { return requests_; }
  uint32_t retries_in_flight() const { return retries_; }
  double credit() const { return static_cast<double>(credit_milli_) / 1000; }

 private:
  // max(kReserve, ratio x requests in flight), in thousandths.
  uint64_t cap_milli() const {
    return std::max<uint64_t>(uint64_t{kReserve} * 1000, ratio_milli_ * requests_);
  }

  uint64_t ratio_milli_;
  uint64_t credit_milli_ = uint64_t{kReserve} * 1000;
  uint32_t requests_ = 0;
  uint32_t retries_ = 0;
};

}  // namespace routemeter
