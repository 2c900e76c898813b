// Server selection and health (upstream_pool.hpp), without sockets: the
// balance rules over 10,000 picks with fixed seeds, weights, servers out of
// the balance (passive and active), every server down, least_conn and
// random_two following in-flight counts, and health carried over a reload.
#include "routemeter/upstream_pool.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "routemeter/config.hpp"
#include "routemeter/snapshot.hpp"

using namespace routemeter;

namespace {

constexpr uint64_t kSecond = 1000000000ull;

// A snapshot with one upstream "u" over `servers` (a TOML array body), the
// given balance and extra upstream keys (such as an [upstream.health] table).
std::shared_ptr<const Snapshot> snapshot(const std::string& servers,
                                         const std::string& balance = "round_robin",
                                         const std::string& extra = "") {
  const std::string toml = "[[upstream]]\nname = \"u\"\nservers = [" + servers + "]\nbalance = \"" +
                           balance + "\"\n" + extra + "\n";
  ConfigLoadResult loaded = parse_config(toml, "t.toml");
  std::string errors;
  for (const ConfigError& e : loaded.errors) errors += e.to_string() + "\n";
  INFO(errors);
  REQUIRE(loaded.ok());
  std::string error;
  auto snap = Snapshot::build(loaded.config, nullptr, nullptr, &error);
  INFO(error);
  REQUIRE(snap);
  return snap;
}

const std::string kThree = R"("127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003")";

std::vector<size_t> picks(ServerSelector& selector, size_t n, uint64_t now_ns = kSecond) {
  std::vector<size_t> out;
  for (size_t i = 0; i < n; ++i) out.push_back(selector.pick(now_ns));
  return out;
}

std::vector<size_t> counts(ServerSelector& selector, size_t servers, size_t n,
                           uint64_t now_ns = kSecond) {
  std::vector<size_t> out(servers, 0);
  for (size_t i = 0; i < n; ++i) ++out.at(selector.pick(now_ns));
  return out;
}

// Marks `server` passively down at `now_ns` (unhealthy_after: 3 by default).
void fail_connects(const ResolvedUpstream& up, size_t server, uint64_t now_ns = kSecond) {
  for (int i = 0; i < 3; ++i) up.report_failure(server, now_ns);
  REQUIRE_FALSE(up.health[server].up());
}

}  // namespace

TEST_CASE("round_robin with equal weights takes the servers in turn", "[pool]") {
  auto snap = snapshot(kThree);
  ServerSelector selector(snap->upstreams()[0], 1);
  CHECK(picks(selector, 7) == std::vector<size_t>{0, 1, 2, 0, 1, 2, 0});
}

TEST_CASE("round_robin is smooth: weights 5, 1, 1 give a a b a c a a", "[pool]") {
  auto snap =
      snapshot(R"({ address = "127.0.0.1:9001", weight = 5 }, "127.0.0.1:9002", "127.0.0.1:9003")");
  ServerSelector selector(snap->upstreams()[0], 1);
  CHECK(picks(selector, 14) == std::vector<size_t>{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0});
}

TEST_CASE("round_robin honours weights exactly over 10,000 picks", "[pool]") {
  auto snap = snapshot(R"("127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 3 })");
  ServerSelector selector(snap->upstreams()[0], 1);
  CHECK(counts(selector, 2, 10000) == std::vector<size_t>{2500, 7500});

  auto snap3 = snapshot(R"({ address = "127.0.0.1:9001", weight = 2 }, "127.0.0.1:9002",
                           { address = "127.0.0.1:9003", weight = 7 })");
  ServerSelector selector3(snap3->upstreams()[0], 1);
  CHECK(counts(selector3, 3, 10000) == std::vector<size_t>{2000, 1000, 7000});
}

TEST_CASE("a server that is down gets no picks, the others keep their weights", "[pool]") {
  auto snap = snapshot(R"("127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 3 },
                          "127.0.0.1:9003")",
                       "round_robin", "[upstream.health]\ninterval = \"1h\"");
  const ResolvedUpstream& up = snap->upstreams()[0];
  ServerSelector selector(up, 1);
  fail_connects(up, 0);
  CHECK(counts(selector, 3, 10000) == std::vector<size_t>{0, 7500, 2500});
  // Actively down (failed health checks) counts the same.
  for (int i = 0; i < 3; ++i) up.health[1].check_failed(3);
  CHECK_FALSE(up.health[1].up());
  CHECK(counts(selector, 3, 10000) == std::vector<size_t>{0, 0, 10000});
}

TEST_CASE("every balance rule skips servers that are down", "[pool]") {
  for (const char* balance : {"round_robin", "least_conn", "random_two"}) {
    INFO(balance);
    auto snap = snapshot(kThree, balance, "[upstream.health]\ninterval = \"1h\"");
    const ResolvedUpstream& up = snap->upstreams()[0];
    ServerSelector selector(up, 42);
    for (int i = 0; i < 3; ++i) up.health[2].check_failed(3);
    std::vector<size_t> seen = counts(selector, 3, 10000);
    CHECK(seen[2] == 0);
    CHECK(seen[0] + seen[1] == 10000);
    CHECK(seen[0] > 4500);
    CHECK(seen[1] > 4500);
  }
}

TEST_CASE("when every server is down each is still tried, round robin", "[pool]") {
  for (const char* balance : {"round_robin", "least_conn", "random_two"}) {
    INFO(balance);
    auto snap = snapshot(R"({ address = "127.0.0.1:9001", weight = 9 }, "127.0.0.1:9002",
                            "127.0.0.1:9003")",
                         balance, "[upstream.health]\ninterval = \"1h\"");
    const ResolvedUpstream& up = snap->upstreams()[0];
    ServerSelector selector(up, 7);
    fail_connects(up, 0);
    for (int i = 0; i < 3; ++i) up.health[1].check_failed(3);
    fail_connects(up, 2);
    for (int i = 0; i < 3; ++i) up.health[2].check_failed(3);
    CHECK(picks(selector, 6) == std::vector<size_t>{0, 1, 2, 0, 1, 2});
    // The first server to answer is up again and takes everything.
    up.report_success(1);
    CHECK(picks(selector, 3) == std::vector<size_t>{0, 1, 2});  // 1 is still actively down
    up.report_success(0);
    CHECK(picks(selector, 3) == std::vector<size_t>{0, 0, 0});
  }
}

TEST_CASE("an upstream without servers has no server to pick", "[pool]") {
  UpstreamConfig config;
  ResolvedUpstream up;
  up.config = &config;
  up.health = std::make_unique<ServerHealth[]>(0);
  ServerSelector selector(up, 1);
  CHECK(selector.pick(kSecond) == ServerSelector::kNoServer);
}

TEST_CASE("a passively down server gets one trial request per interval, first", "[pool]") {
  auto snap = snapshot(kThree, "round_robin", "[upstream.health]\ninterval = \"1s\"");
  const ResolvedUpstream& up = snap->upstreams()[0];
  ServerSelector selector(up, 1);
  fail_connects(up, 1, 10 * kSecond);
  CHECK(picks(selector, 4, 10 * kSecond + kSecond / 2) == std::vector<size_t>{0, 2, 0, 2});
  // An interval later: the next pick is the trial, then it is out again.
  CHECK(picks(selector, 3, 11 * kSecond) == std::vector<size_t>{1, 0, 2});
  CHECK(picks(selector, 2, 12 * kSecond - 1) == std::vector<size_t>{0, 2});
  CHECK(selector.pick(12 * kSecond) == 1);
  // Actively down: no trial requests, the health checks bring it back.
  for (int i = 0; i < 3; ++i) up.health[1].check_failed(3);
  CHECK(picks(selector, 2, 20 * kSecond) == std::vector<size_t>{0, 2});
}

TEST_CASE("least_conn picks the fewest in-flight requests, ties in turn", "[pool]") {
  auto snap = snapshot(kThree, "least_conn");
  ServerSelector selector(snap->upstreams()[0], 1);
  // Nothing in flight: a tie, round robin.
  CHECK(picks(selector, 4) == std::vector<size_t>{0, 1, 2, 0});
  selector.started(0);
  selector.started(0);
  selector.started(1);
  // 2, 1, 0 in flight: the least loaded, every time.
  CHECK(picks(selector, 3) == std::vector<size_t>{2, 2, 2});
  selector.started(2);
  // 2, 1, 1: the two tied servers in turn.
  std::vector<size_t> tied = picks(selector, 4);
  CHECK(std::count(tied.begin(), tied.end(), 1) == 2);
  CHECK(std::count(tied.begin(), tied.end(), 2) == 2);
  CHECK(tied[0] != tied[1]);
  selector.finished(0);
  selector.finished(0);
  selector.finished(1);
  // 0, 0, 1 in flight: 0 and 1 share the picks (by the round robin's running
  // weights, which remember that 0 had more turns before).
  std::vector<size_t> shared = picks(selector, 4);
  CHECK(std::count(shared.begin(), shared.end(), 2) == 0);
  CHECK(std::count(shared.begin(), shared.end(), 0) >= 1);
  CHECK(std::count(shared.begin(), shared.end(), 1) >= 1);
  CHECK(selector.in_flight(0) == 0);
  CHECK(selector.in_flight(1) == 0);
  CHECK(selector.in_flight(2) == 1);
}

TEST_CASE("least_conn follows in-flight counts relative to the weights", "[pool]") {
  auto snap =
      snapshot(R"("127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 3 })", "least_conn");
  ServerSelector selector(snap->upstreams()[0], 1);
  // Requests that finish before the next starts always tie: the weights decide.
  std::vector<size_t> seen(2, 0);
  for (int i = 0; i < 10000; ++i) {
    const size_t s = selector.pick(kSecond);
    ++seen[s];
    selector.started(s);
    selector.finished(s);
  }
  CHECK(seen == std::vector<size_t>{2500, 7500});
  // Requests that stay in flight: the load settles at 1:3.
  for (int i = 0; i < 400; ++i) selector.started(selector.pick(kSecond));
  CHECK(selector.in_flight(0) == 100);
  CHECK(selector.in_flight(1) == 300);
  selector.started(0);
  CHECK(selector.pick(kSecond) == 1);  // 101/1 against 300/3
}

TEST_CASE("random_two honours weights over 10,000 picks with a fixed seed", "[pool]") {
  auto snap = snapshot(R"("127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 3 },
                          "127.0.0.1:9003", "127.0.0.1:9004")",
                       "random_two");
  ServerSelector selector(snap->upstreams()[0], 12345);
  // Nothing in flight: the first server drawn wins, drawn by weight 1:3:1:1.
  std::vector<size_t> seen = counts(selector, 4, 10000);
  CHECK(seen[1] > 4700);
  CHECK(seen[1] < 5300);
  for (size_t s : {0, 2, 3}) {
    INFO(s);
    CHECK(seen[s] > 1450);
    CHECK(seen[s] < 1900);
  }
  // The same seed draws the same sequence; another seed another one.
  ServerSelector again(snap->upstreams()[0], 12345);
  ServerSelector other(snap->upstreams()[0], 54321);
  ServerSelector fresh(snap->upstreams()[0], 12345);
  const std::vector<size_t> first = picks(fresh, 100);
  CHECK(picks(again, 100) == first);
  CHECK(picks(other, 100) != first);
}

TEST_CASE("random_two prefers the server with fewer in-flight requests", "[pool]") {
  auto snap = snapshot(kThree, "random_two");
  ServerSelector selector(snap->upstreams()[0], 99);
  // Server 1 is busy: it loses every draw it is in (two servers are drawn).
  for (int i = 0; i < 5; ++i) selector.started(1);
  std::vector<size_t> seen = counts(selector, 3, 10000);
  CHECK(seen[1] == 0);
  CHECK(seen[0] > 4500);
  CHECK(seen[2] > 4500);
  // Requests that stay in flight spread evenly: each pick tops up the less
  // loaded of two, so no server gets far ahead of the others.
  for (int i = 0; i < 1000; ++i) selector.started(selector.pick(kSecond));
  CHECK(selector.in_flight(0) + selector.in_flight(1) + selector.in_flight(2) == 1005);
  for (size_t s = 0; s < 3; ++s) {
    INFO(s);
    CHECK(selector.in_flight(s) >= 330);
    CHECK(selector.in_flight(s) <= 340);
  }
}

TEST_CASE("a pool picks through its selector and counts nothing in flight before a lease",
          "[pool]") {
  auto snap = snapshot(kThree);
  UpstreamPool pool(nullptr, snap->upstreams()[0], 1);
  CHECK(pool.pick_server(kSecond) == 0);
  CHECK(pool.pick_server(kSecond) == 1);
  CHECK(pool.in_flight(0) == 0);
}

TEST_CASE(
    "health checks: unhealthy_after failures take a server out, healthy_after passes "
    "bring it back",
    "[pool][health]") {
  ServerHealth h;
  CHECK(h.up());
  CHECK_FALSE(h.check_failed(3));
  CHECK_FALSE(h.check_failed(3));
  CHECK(h.check_passed(2) == false);  // a pass resets the count
  CHECK_FALSE(h.check_failed(3));
  CHECK_FALSE(h.check_failed(3));
  CHECK(h.up());
  CHECK(h.check_failed(3));  // the third in a row: a change
  CHECK_FALSE(h.up());
  CHECK(h.down_reasons() == ServerHealth::kActiveDown);
  CHECK_FALSE(h.check_failed(3));  // still down: no change
  CHECK_FALSE(h.check_passed(2));
  CHECK_FALSE(h.up());
  CHECK(h.check_passed(2));
  CHECK(h.up());
  // An answer to a real request does not end an active mark-down.
  for (int i = 0; i < 3; ++i) h.check_failed(3);
  h.answered();
  CHECK_FALSE(h.up());
}

TEST_CASE("the combined state: passive and active reasons both keep a server out",
          "[pool][health]") {
  ServerHealth h;
  for (int i = 0; i < 3; ++i) h.connect_failed(kSecond, 3);
  CHECK(h.down_reasons() == ServerHealth::kPassiveDown);
  for (int i = 0; i < 3; ++i) h.check_failed(3);
  CHECK(h.down_reasons() == (ServerHealth::kPassiveDown | ServerHealth::kActiveDown));
  h.check_passed(2);
  // A passed check proves the server takes connections: the passive mark ends.
  CHECK(h.down_reasons() == ServerHealth::kActiveDown);
  h.check_passed(2);
  CHECK(h.up());
  // Connect failures in a row, not in total.
  h.connect_failed(kSecond, 3);
  h.connect_failed(kSecond, 3);
  h.answered();
  h.connect_failed(kSecond, 3);
  CHECK(h.up());
}

TEST_CASE("a reload carries each remaining server's health into the new snapshot",
          "[pool][health]") {
  auto old_snap = snapshot(R"("127.0.0.1:9001", "127.0.0.1:9002")", "round_robin",
                           "[upstream.health]\nunhealthy_after = 1\nhealthy_after = 2");
  const ResolvedUpstream& old_up = old_snap->upstreams()[0];
  old_up.health[0].check_failed(1);
  old_up.health[0].check_passed(2);  // one of the two passes it needs
  old_up.report_failure(1, kSecond);
  REQUIRE_FALSE(old_up.health[0].up());
  REQUIRE_FALSE(old_up.health[1].up());

  // Same servers, checks still on: both stay down, for the same reasons.
  auto same = snapshot(R"("127.0.0.1:9002", "127.0.0.1:9001", "127.0.0.1:9003")", "round_robin",
                       "[upstream.health]\nunhealthy_after = 1\nhealthy_after = 2");
  same->inherit_health(*old_snap);
  const ResolvedUpstream& up = same->upstreams()[0];
  CHECK(up.health[0].down_reasons() == ServerHealth::kPassiveDown);
  CHECK(up.health[1].down_reasons() == ServerHealth::kActiveDown);
  CHECK(up.health[2].up());  // new: starts up
  // Its passed checks came along: the second pass in a row brings it back.
  CHECK(up.health[1].check_passed(2));

  // Checks turned off: nothing would end the active mark-down, so it is dropped.
  auto passive_only = snapshot(R"("127.0.0.1:9001", "127.0.0.1:9002")");
  passive_only->inherit_health(*old_snap);
  CHECK(passive_only->upstreams()[0].health[0].up());
  CHECK_FALSE(passive_only->upstreams()[0].health[1].up());
}

TEST_CASE("a retry's pick avoids the servers the request tried while another is up", "[pool]") {
  for (const char* balance : {"round_robin", "least_conn", "random_two"}) {
    INFO(balance);
    auto snap = snapshot(kThree, balance);
    const ResolvedUpstream& up = snap->upstreams()[0];
    ServerSelector selector(up, 7);
    const uint8_t tried_0[] = {1, 0, 0};
    for (int i = 0; i < 100; ++i) CHECK(selector.pick(kSecond, tried_0) != 0);
    const uint8_t tried_01[] = {1, 1, 0};
    for (int i = 0; i < 100; ++i) CHECK(selector.pick(kSecond, tried_01) == 2);
    // The one untried server is down: the pick is as without `tried` (the
    // up servers, tried or not).
    fail_connects(up, 2);
    std::vector<size_t> seen(3, 0);
    for (int i = 0; i < 100; ++i) ++seen.at(selector.pick(kSecond, tried_01));
    CHECK(seen[2] == 0);
    CHECK(seen[0] + seen[1] == 100);
    // Every server tried: as without `tried`.
    const uint8_t tried_all[] = {1, 1, 1};
    for (int i = 0; i < 100; ++i) CHECK(selector.pick(kSecond, tried_all) != 2);
  }
}

TEST_CASE("a retry's pick with a sole server takes that server", "[pool]") {
  auto snap = snapshot(R"("127.0.0.1:9001")");
  ServerSelector selector(snap->upstreams()[0], 1);
  const uint8_t tried[] = {1};
  CHECK(selector.pick(kSecond, tried) == 0);
}
