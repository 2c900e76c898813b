#include "routemeter/retry_policy.hpp"

#include <array>

namespace routemeter {
namespace {

constexpr std::array<std::string_view, kRetryReasons> kNames = {
    "connect_failure", "reset", "502", "503", "504", "response_timeout", "stale_connection"};

}  // namespace

std::string_view retry_reason_name(RetryReason r) { return kNames[static_cast<size_t>(r)]; }

std::optional<RetryReason> parse_retry_on(std::string_view value) {
  for (size_t i = 0; i < kRetryOnValues; ++i) {
    if (kNames[i] == value) return static_cast<RetryReason>(i);
  }
  return std::nullopt;
}

std::optional<RetryReason> retry_reason_for_status(int status) {
  switch (status) {
    case 502:
      return RetryReason::k502;
    case 503:
      return RetryReason::k503;
    case 504:
      return RetryReason::k504;
    default:
      return std::nullopt;
  }
}

bool is_idempotent(http::Method m) {
  switch (m) {
    case http::Method::kGet:
    case http::Method::kHead:
    case http::Method::kOptions:
    case http::Method::kTrace:
    case http::Method::kPut:
    case http::Method::kDelete:
      return true;
    default:
      return false;
  }
}

bool retry_permitted(RetryReason reason, bool idempotent, RetryOn retry_on) {
  if (reason == RetryReason::kStaleConnection) return idempotent;
  if ((retry_on & retry_bit(reason)) == 0) return false;
  return reason == RetryReason::kConnectFailure || idempotent;
}

}  // namespace routemeter
