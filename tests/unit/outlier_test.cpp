// Passive outlier ejection ([upstream.outlier], upstream_pool.hpp and
// snapshot.hpp), without sockets: consecutive failures eject, an answer
// below 500 ends the run, ejection times double up to 10x base, at most
// max_ejection_percent of the servers are out, an ejected server gets no
// picks until its time ends, and the state carries over a reload.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "routemeter/config.hpp"
#include "routemeter/snapshot.hpp"
#include "routemeter/upstream_pool.hpp"

using namespace routemeter;

namespace {

constexpr uint64_t kSecond = 1000000000ull;
const std::string kFour =
    R"("127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003", "127.0.0.1:9004")";

// One upstream "u" over `servers` with [upstream.outlier] `outlier` (its keys).
std::shared_ptr<const Snapshot> snapshot(const std::string& servers, const std::string& outlier) {
  const std::string toml = "[[upstream]]\nname = \"u\"\nservers = [" + servers +
                           "]\n[upstream.outlier]\n" + outlier + "\n";
  ConfigLoadResult loaded = parse_config(toml, "t.toml");
  std::string errors;
  for (const ConfigError& e : loaded.errors) errors += e.to_string() + "\n";
  INFO(errors);
  REQUIRE(loaded.ok());
  std::string error;
  auto snap = Snapshot::build(loaded.config, nullptr, nullptr, &error);
  REQUIRE(snap);
  return snap;
}

void fail(const ResolvedUpstream& up, size_t server, int times, uint64_t now_ns) {
  for (int i = 0; i < times; ++i) up.report_failure(server, now_ns);
}

}  // namespace

TEST_CASE("outlier: consecutive failures eject for base_ejection_time", "[outlier]") {
  // 2 failed connects: below unhealthy_after (3), so only the ejection
  // keeps the server out.
  auto snap = snapshot(kFour, "consecutive_failures = 2\nbase_ejection_time = \"10s\"");
  const ResolvedUpstream& up = snap->upstreams()[0];
  const uint64_t t0 = 100 * kSecond;
  fail(up, 0, 1, t0);
  CHECK_FALSE(up.ejected(0, t0));
  fail(up, 0, 1, t0);
  CHECK(up.ejected(0, t0));
  CHECK(up.ejected(0, t0 + (10 * kSecond) - 1));
  CHECK_FALSE(up.ejected(0, t0 + (10 * kSecond)));

  ServerSelector selector(up, 1);
  std::vector<size_t> seen(4, 0);
  for (int i = 0; i < 3000; ++i) ++seen.at(selector.pick(t0 + kSecond));
  CHECK(seen == std::vector<size_t>{0, 1000, 1000, 1000});
  for (int i = 0; i < 4000; ++i) ++seen.at(selector.pick(t0 + (10 * kSecond)));
  CHECK(seen == std::vector<size_t>{1000, 2000, 2000, 2000});
}

TEST_CASE("outlier: an answer below 500 ends the run of failures", "[outlier]") {
  auto snap = snapshot(kFour, "consecutive_failures = 3");
  const ResolvedUpstream& up = snap->upstreams()[0];
  const uint64_t t0 = 100 * kSecond;
  fail(up, 1, 2, t0);
  up.report_answer(1, 404);
  fail(up, 1, 2, t0);
  CHECK_FALSE(up.ejected(1, t0));
  // 5xx answers count like failed connects.
  up.report_answer(1, 503);
  CHECK(up.ejected(1, monotonic_ns()));
}

TEST_CASE("outlier: ejection times double with each ejection in a row, at most 10x", "[outlier]") {
  auto snap = snapshot(kFour, "consecutive_failures = 1\nbase_ejection_time = \"1s\"");
  const ResolvedUpstream& up = snap->upstreams()[0];
  uint64_t now = 100 * kSecond;
  for (uint64_t factor : {1, 2, 4, 8, 10, 10}) {
    INFO(factor);
    fail(up, 2, 1, now);
    CHECK(up.ejected(2, now + (factor * kSecond) - 1));
    CHECK_FALSE(up.ejected(2, now + (factor * kSecond)));
    now += factor * kSecond;
  }
  // A good answer after it is back: the next ejection is base again.
  up.report_answer(2, 200);
  fail(up, 2, 1, now);
  CHECK(up.ejected(2, now + kSecond - 1));
  CHECK_FALSE(up.ejected(2, now + kSecond));
}

TEST_CASE("outlier: never more than max_ejection_percent of the servers", "[outlier]") {
  SECTION("50% of 4: two") {
    auto snap = snapshot(kFour, "consecutive_failures = 1\nmax_ejection_percent = 50");
    const ResolvedUpstream& up = snap->upstreams()[0];
    const uint64_t t0 = 100 * kSecond;
    for (size_t s = 0; s < 4; ++s) fail(up, s, 1, t0);
    CHECK(up.ejected(0, t0));
    CHECK(up.ejected(1, t0));
    CHECK_FALSE(up.ejected(2, t0));
    CHECK_FALSE(up.ejected(3, t0));
    // Once one is back, the next failure of another may take its place.
    const uint64_t later = t0 + (30 * kSecond);
    CHECK_FALSE(up.ejected(0, later));
    fail(up, 3, 1, later);
    CHECK(up.ejected(3, later));
  }
  SECTION("0%: never") {
    auto snap = snapshot(kFour, "consecutive_failures = 1\nmax_ejection_percent = 0");
    const ResolvedUpstream& up = snap->upstreams()[0];
    fail(up, 0, 10, kSecond);
    CHECK_FALSE(up.ejected(0, kSecond));
  }
  SECTION("a sole server at 50%: never") {
    auto snap = snapshot(R"("127.0.0.1:9001")", "consecutive_failures = 1");
    const ResolvedUpstream& up = snap->upstreams()[0];
    fail(up, 0, 10, kSecond);
    CHECK_FALSE(up.ejected(0, kSecond));
  }
}

TEST_CASE("outlier: without [upstream.outlier] nothing is ejected", "[outlier]") {
  ConfigLoadResult loaded =
      parse_config("[[upstream]]\nname = \"u\"\nservers = [" + kFour + "]\n", "t.toml");
  REQUIRE(loaded.ok());
  std::string error;
  auto snap = Snapshot::build(loaded.config, nullptr, nullptr, &error);
  REQUIRE(snap);
  const ResolvedUpstream& up = snap->upstreams()[0];
  for (int i = 0; i < 100; ++i) up.report_answer(0, 500);
  CHECK_FALSE(up.ejected(0, monotonic_ns()));
}

TEST_CASE("outlier: a reload keeps an ejected server out", "[outlier]") {
  auto old_snap = snapshot(kFour, "consecutive_failures = 1");
  fail(old_snap->upstreams()[0], 1, 1, 100 * kSecond);
  auto new_snap = snapshot(kFour, "consecutive_failures = 1");
  new_snap->inherit_health(*old_snap);
  CHECK(new_snap->upstreams()[0].ejected(1, 100 * kSecond));
  CHECK_FALSE(new_snap->upstreams()[0].ejected(0, 100 * kSecond));
}

TEST_CASE("outlier: config keys, ranges and defaults", "[outlier][config]") {
  ConfigLoadResult ok = parse_config(
      "[[upstream]]\nname = \"u\"\nservers = [\"127.0.0.1:1\"]\n[upstream.outlier]\n", "t.toml");
  REQUIRE(ok.ok());
  const OutlierConfig& o = ok.config->upstreams[0].outlier;
  CHECK(o.enabled);
  CHECK(o.consecutive_failures == 5);
  CHECK(o.base_ejection_time == std::chrono::seconds(30));
  CHECK(o.max_ejection_percent == 50);
  for (const char* bad : {"consecutive_failures = 0", "max_ejection_percent = 101",
                          "base_ejection_time = \"0s\"", "ejection = 1"}) {
    INFO(bad);
    ConfigLoadResult r = parse_config(
        std::string(
            "[[upstream]]\nname = \"u\"\nservers = [\"127.0.0.1:1\"]\n[upstream.outlier]\n") +
            bad + "\n",
        "t.toml");
    REQUIRE_FALSE(r.ok());
    CHECK(r.errors[0].to_string().rfind("t.toml:5:", 0) == 0);
  }
}
