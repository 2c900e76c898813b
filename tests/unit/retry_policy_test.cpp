// Retries without sockets (retry_policy.hpp): which reason allows a retry
// for which method and retry_on, the reason names, and the retry budget.
#include "routemeter/retry_policy.hpp"

#include <catch2/catch.hpp>

using namespace routemeter;

TEST_CASE("retry decision: connect failures for any method and the rest for idempotent ones",
          "[retry]") {
  const RetryOn all = (RetryOn{1} << kRetryOnValues) - 1;
  struct Row {
    RetryReason reason;
    http::Method method;
    RetryOn retry_on;
    bool retried;
  };
  // clang-format off
  const Row rows[] = {
    {RetryReason::kConnectFailure, http::Method::kPost, kDefaultRetryOn, true},
    {RetryReason::kConnectFailure, http::Method::kPatch, kDefaultRetryOn, true},
    {RetryReason::kConnectFailure, http::Method::kGet, 0, false},  // not listed
    {RetryReason::kReset, http::Method::kGet, kDefaultRetryOn, true},
    {RetryReason::kReset, http::Method::kPut, kDefaultRetryOn, true},
    {RetryReason::kReset, http::Method::kDelete, kDefaultRetryOn, true},
    {RetryReason::kReset, http::Method::kPost, all, false},  // never for POST
    {RetryReason::kReset, http::Method::kPatch, all, false},
    {RetryReason::kReset, http::Method::kOther, all, false},
    {RetryReason::kReset, http::Method::kGet, retry_bit(RetryReason::kConnectFailure), false},
    {RetryReason::k503, http::Method::kGet, kDefaultRetryOn, false},  // not by default
    {RetryReason::k503, http::Method::kGet, retry_bit(RetryReason::k503), true},
    {RetryReason::k503, http::Method::kPost, all, false},
    {RetryReason::k502, http::Method::kHead, retry_bit(RetryReason::k502), true},
    {RetryReason::k504, http::Method::kOptions, retry_bit(RetryReason::k503), false},
    {RetryReason::kResponseTimeout, http::Method::kTrace, all, true},
    {RetryReason::kResponseTimeout, http::Method::kGet, kDefaultRetryOn, false},
    {RetryReason::kResponseTimeout, http::Method::kPost, all, false},
    // The stale keep-alive retry is always on, for idempotent requests only.
    {RetryReason::kStaleConnection, http::Method::kGet, 0, true},
    {RetryReason::kStaleConnection, http::Method::kPost, all, false},
  };
  // clang-format on
  for (const Row& row : rows) {
    INFO(retry_reason_name(row.reason)
         << " " << http::method_name(row.method) << " retry_on " << row.retry_on);
    CHECK(retry_permitted(row.reason, is_idempotent(row.method), row.retry_on) == row.retried);
  }
}

TEST_CASE("retry reasons: names and the values retry_on accepts", "[retry]") {
  for (size_t i = 0; i < kRetryReasons; ++i) {
    const auto reason = static_cast<RetryReason>(i);
    const auto parsed = parse_retry_on(retry_reason_name(reason));
    if (reason == RetryReason::kStaleConnection) {
      CHECK_FALSE(parsed.has_value());  // a label value, never a retry_on value
    } else {
      REQUIRE(parsed.has_value());
      CHECK(*parsed == reason);
    }
  }
  CHECK(retry_reason_name(RetryReason::kConnectFailure) == "connect_failure");
  CHECK(retry_reason_name(RetryReason::kStaleConnection) == "stale_connection");
  CHECK_FALSE(parse_retry_on("500").has_value());
  CHECK_FALSE(parse_retry_on("Reset").has_value());
  CHECK(retry_reason_for_status(502) == RetryReason::k502);
  CHECK(retry_reason_for_status(503) == RetryReason::k503);
  CHECK(retry_reason_for_status(504) == RetryReason::k504);
  CHECK_FALSE(retry_reason_for_status(500).has_value());
  CHECK_FALSE(retry_reason_for_status(200).has_value());
}

TEST_CASE("retry budget: three retries always and then the ratio of requests", "[retry]") {
  RetryBudget budget(0.2);
  // One request in flight at a time, every attempt failing at once (a dead
  // upstream refusing connects): 3 retries, then one per 5 requests.
  uint32_t retries = 0;
  for (int i = 0; i < 100; ++i) {
    budget.request_started();
    uint32_t held = 0;
    if (budget.try_acquire()) ++held;
    retries += held;
    budget.request_finished(held);
  }
  CHECK(retries >= 20);
  CHECK(retries <= 100 * 0.2 + 3);
  CHECK(budget.requests_in_flight() == 0);
  CHECK(budget.retries_in_flight() == 0);
}

TEST_CASE("retry budget: retries in flight stay within the ratio of requests in flight",
          "[retry]") {
  RetryBudget budget(0.2);
  // 100 requests in flight; the credit refilled by them allows at most
  // max(3, 0.2 x 100) = 20 retries in flight.
  for (int i = 0; i < 100; ++i) budget.request_started();
  uint32_t taken = 0;
  while (budget.try_acquire()) ++taken;
  CHECK(taken == 20);
  CHECK(budget.retries_in_flight() == 20);
  // Those end: the room comes back once credit does.
  for (uint32_t i = 0; i < 20; ++i) budget.request_finished(1);
  CHECK(budget.retries_in_flight() == 0);
  CHECK_FALSE(budget.try_acquire());  // no credit yet
  for (int i = 0; i < 5; ++i) budget.request_started();
  CHECK(budget.try_acquire());
}

TEST_CASE("retry budget: a long healthy spell banks no more than the in-flight rule allows",
          "[retry]") {
  RetryBudget budget(0.2);
  for (int i = 0; i < 100000; ++i) {
    budget.request_started();
    budget.request_finished(0);
  }
  CHECK(budget.credit() == 3.0);
  int taken = 0;
  budget.request_started();
  while (budget.try_acquire()) ++taken;
  CHECK(taken == 3);
}

TEST_CASE("retry budget: 0 allows the three and 1 a retry per request", "[retry]") {
  RetryBudget none(0);
  int taken = 0;
  for (int i = 0; i < 50; ++i) {
    none.request_started();
    const bool got = none.try_acquire();
    if (got) ++taken;
    none.request_finished(got ? 1 : 0);
  }
  CHECK(taken == 3);
  RetryBudget all(1);
  taken = 0;
  for (int i = 0; i < 50; ++i) {
    all.request_started();
    const bool got = all.try_acquire();
    if (got) ++taken;
    all.request_finished(got ? 1 : 0);
  }
  CHECK(taken == 50);
}
