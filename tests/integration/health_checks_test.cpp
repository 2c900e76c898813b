// Active health checks ([upstream.health]): a server whose checks fail gets
// no traffic after unhealthy_after checks and traffic again after
// healthy_after passes; 500s, timeouts and refused connects fail, 3xx
// passes; a reload carries each server's state over and swaps the checks.
// routemeter_upstream_health_checks_total is compared with what the backends
// answered; every wait has a deadline.
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <string_view>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

constexpr milliseconds kWait = 15s;
// Polls of /metrics: every admin request is a connection, and a test needs
// only a few dozen of them.
constexpr milliseconds kPoll = 50ms;

// A backend whose GET /healthz answers a status the test sets (200 at first)
// and counts its answers; every other request gets 200 with `name` as body.
class CheckedBackend {
 public:
  explicit CheckedBackend(std::string name)
      : name_(std::move(name)), backend_([this](const ReceivedRequest& r) { return answer(r); }) {}

  void set_health(int status) { status_ = status; }
  std::string address() const { return backend_.address(); }
  std::string quoted() const { return "\"" + address() + "\""; }
  // /healthz answers given, by whether they pass (2xx, 3xx).
  uint64_t checks_ok() const { return ok_; }
  uint64_t checks_failed() const { return failed_; }
  // Requests for `target` received so far.
  size_t count(std::string_view target) const {
    size_t n = 0;
    for (const ReceivedRequest& r : backend_.requests()) n += r.target == target ? 1 : 0;
    return n;
  }

 private:
  Reply answer(const ReceivedRequest& r) {
    if (r.target != "/healthz") return Reply::ok(name_);
    const int status = status_;
    ++(status >= 200 && status < 400 ? ok_ : failed_);
    return Reply::with_status(status, "health");
  }

  std::string name_;
  std::atomic<int> status_{200};
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> failed_{0};
  TestBackend backend_;  // last: its thread calls answer()
};

double checks(const std::string& m, const std::string& server, const char* result) {
  return find_metric(m, "routemeter_upstream_health_checks_total",
                     {{"upstream", "app"}, {"server", server}, {"result", result}})
      .value_or(std::nan(""));
}

double server_up(const std::string& m, const std::string& server) {
  return find_metric(m, "routemeter_upstream_server_up", {{"upstream", "app"}, {"server", server}})
      .value_or(std::nan(""));
}

// /metrics once the health check counters of `b` equal what it answered:
// between two checks (the backend counts an answer before the proxy reads it).
std::string scrape_counted(uint16_t admin, const CheckedBackend& b) {
  std::string m;
  wait_until(
      [&] {
        m = scrape(admin);
        return checks(m, b.address(), "ok") == static_cast<double>(b.checks_ok()) &&
               checks(m, b.address(), "failed") == static_cast<double>(b.checks_failed());
      },
      kWait, kPoll);
  return m;
}

std::string health(const std::string& keys) { return "[upstream.health]\n" + keys; }

}  // namespace

TEST_CASE("a server failing its health checks gets no traffic until it passes them again",
          "[health]") {
  CheckedBackend a("a");
  CheckedBackend b("b");
  Routemeter proxy(proxy_config(a.quoted() + ", " + b.quoted(), "", "workers = 2",
                                health("interval = \"100ms\"\ntimeout = \"1s\"\n"
                                       "unhealthy_after = 2\nhealthy_after = 2\n")));
  const uint16_t admin = proxy.admin_port();
  const uint16_t port = proxy.proxy_port();
  std::string m;
  REQUIRE(wait_until(
      [&] {
        m = scrape(admin);
        return checks(m, a.address(), "ok") >= 1 && checks(m, b.address(), "ok") >= 1;
      },
      kWait, kPoll));
  CHECK(server_up(m, a.address()) == 1);
  CHECK(server_up(m, b.address()) == 1);
  CHECK(checks(m, a.address(), "failed") == 0);
  int to_a = 0;
  for (int i = 0; i < 10; ++i) to_a += http_get(port, "/x").body == "a" ? 1 : 0;
  CHECK(to_a >= 1);
  CHECK(to_a <= 9);

  // /healthz answers 500: out after two checks, and no request reaches it.
  a.set_health(500);
  REQUIRE(wait_until([&] { return server_up(scrape(admin), a.address()) == 0; }, kWait, kPoll));
  m = scrape_counted(admin, a);
  CHECK(checks(m, a.address(), "failed") == static_cast<double>(a.checks_failed()));
  CHECK(a.checks_failed() >= 2);
  CHECK(server_up(m, b.address()) == 1);
  const size_t a_before = a.count("/x");
  for (int i = 0; i < 20; ++i) CHECK(http_get(port, "/x").body == "b");
  CHECK(a.count("/x") == a_before);

  // Passing again: back after two passes, and it gets traffic.
  const uint64_t ok_before = a.checks_ok();
  a.set_health(200);
  REQUIRE(wait_until([&] { return server_up(scrape(admin), a.address()) == 1; }, kWait, kPoll));
  CHECK(a.checks_ok() >= ok_before + 2);
  to_a = 0;
  for (int i = 0; i < 20; ++i) to_a += http_get(port, "/x").body == "a" ? 1 : 0;
  CHECK(to_a >= 1);
  CHECK(a.count("/x") == a_before + static_cast<size_t>(to_a));

  m = scrape_counted(admin, a);
  m = scrape_counted(admin, b);
  CHECK(checks(m, b.address(), "failed") == 0);
  const std::string settled = scrape_quiescent(admin);
  INFO(settled);
  CHECK(metric_value(settled,
                     "routemeter_requests_total{code=\"200\",method=\"GET\",route=\"all\","
                     "upstream=\"app\"}") == 50);
  CHECK(sum_metric(settled, "routemeter_upstream_errors_total") == 0);
  const CommandResult lint = promtool_check_metrics(settled);
  INFO(lint.out << lint.err);
  CHECK(lint.status.ok());
}

TEST_CASE("health checks fail on a 500, a timeout and a refused connect, and pass on a 3xx",
          "[health]") {
  CheckedBackend good("good");
  good.set_health(302);
  CheckedBackend bad("bad");
  bad.set_health(500);
  std::atomic<uint64_t> slow_checks{0};
  TestBackend slow([&slow_checks](const ReceivedRequest& r) {
    if (r.target != "/healthz") return Reply::ok("slow");
    ++slow_checks;
    return Reply::never_answer();
  });
  const RefusingPort refused;
  const std::string refused_server = "127.0.0.1:" + std::to_string(refused.port());
  Routemeter proxy(proxy_config(
      good.quoted() + ", " + bad.quoted() + ", \"" + slow.address() + "\", \"" + refused_server +
          "\"",
      // The timeout leaves a loaded machine time to answer the good server's
      // checks (150 ms was seen to run out at a load of 15).
      "", "", health("interval = \"1s\"\ntimeout = \"800ms\"\nunhealthy_after = 2\n")));
  const uint16_t admin = proxy.admin_port();
  std::string m;
  REQUIRE(wait_until(
      [&] {
        m = scrape(admin);
        return server_up(m, bad.address()) == 0 && server_up(m, slow.address()) == 0 &&
               server_up(m, refused_server) == 0 && checks(m, good.address(), "ok") >= 2;
      },
      kWait, kPoll));
  CHECK(server_up(m, good.address()) == 1);

  m = scrape_counted(admin, good);
  CHECK(checks(m, good.address(), "failed") == 0);
  m = scrape_counted(admin, bad);
  CHECK(checks(m, bad.address(), "ok") == 0);
  CHECK(checks(m, bad.address(), "failed") >= 2);
  // A timed-out check counts once its timeout has passed: wait for the gap
  // before the next one.
  CHECK(wait_until(
      [&] {
        m = scrape(admin);
        return checks(m, slow.address(), "failed") == static_cast<double>(slow_checks.load());
      },
      kWait, kPoll));
  CHECK(checks(m, slow.address(), "ok") == 0);
  CHECK(checks(m, refused_server, "ok") == 0);
  CHECK(checks(m, refused_server, "failed") >= 2);

  for (int i = 0; i < 12; ++i) CHECK(http_get(proxy.proxy_port(), "/x").body == "good");
  CHECK(sum_metric(scrape_quiescent(admin), "routemeter_upstream_errors_total") == 0);
}

TEST_CASE("a sole server failing its health checks still serves: every server down is tried",
          "[health]") {
  CheckedBackend a("a");
  a.set_health(503);
  Routemeter proxy(
      proxy_config(a.quoted(), "", "", health("interval = \"100ms\"\nunhealthy_after = 1\n")));
  const uint16_t admin = proxy.admin_port();
  REQUIRE(wait_until([&] { return server_up(scrape(admin), a.address()) == 0; }, kWait, kPoll));
  const Response r = http_get(proxy.proxy_port(), "/x");
  CHECK(r.status == 200);
  CHECK(r.body == "a");
  // An answer ends a passive mark-down, not the health checks' verdict.
  const std::string m = scrape_quiescent(admin);
  CHECK(server_up(m, a.address()) == 0);
  CHECK(sum_metric(m, "routemeter_upstream_errors_total") == 0);
}

TEST_CASE("a reload keeps a failing server out and replaces the old checks with the new ones",
          "[health][reload]") {
  CheckedBackend a("a");
  CheckedBackend b("b");
  const std::string servers = a.quoted() + ", " + b.quoted();
  const std::string keys = "interval = \"100ms\"\nunhealthy_after = 2\nhealthy_after = 2\n";
  Routemeter proxy(proxy_config(servers, "", "", health(keys)));
  const uint16_t admin = proxy.admin_port();
  const uint16_t port = proxy.proxy_port();
  auto reloads = [&] {
    return find_metric(scrape(admin), "routemeter_config_reloads_total", {{"result", "success"}})
        .value_or(0);
  };
  a.set_health(500);
  REQUIRE(wait_until([&] { return server_up(scrape(admin), a.address()) == 0; }, kWait, kPoll));

  // The same checks in a new snapshot: a starts down, not up for two checks.
  proxy.write_config(proxy_config(servers, "", "", "response_timeout = \"10s\"\n" + health(keys)));
  REQUIRE(proxy.reload());
  REQUIRE(wait_until([&] { return reloads() == 1; }, kWait, kPoll));
  CHECK(server_up(scrape(admin), a.address()) == 0);
  for (int i = 0; i < 10; ++i) CHECK(http_get(port, "/x").body == "b");

  // Another path: the new checks ask for /ready (which a answers 200), the
  // old ones for /healthz stop.
  proxy.write_config(proxy_config(servers, "", "", health("path = \"/ready\"\n" + keys)));
  REQUIRE(proxy.reload());
  REQUIRE(wait_until([&] { return reloads() == 2; }, kWait, kPoll));
  REQUIRE(
      wait_until([&] { return a.count("/ready") >= 2 && b.count("/ready") >= 2; }, kWait, kPoll));
  const size_t a_healthz = a.count("/healthz");
  const size_t b_healthz = b.count("/healthz");
  REQUIRE(
      wait_until([&] { return a.count("/ready") >= 5 && b.count("/ready") >= 5; }, kWait, kPoll));
  CHECK(a.count("/healthz") == a_healthz);
  CHECK(b.count("/healthz") == b_healthz);
  CHECK(wait_until([&] { return server_up(scrape(admin), a.address()) == 1; }, kWait, kPoll));
  // The counters went on across both reloads: one series per server and
  // result. A check still running at a reload is dropped uncounted.
  const std::string m = scrape(admin);
  CHECK(checks(m, a.address(), "failed") <= static_cast<double>(a.checks_failed()));
  CHECK(checks(m, a.address(), "failed") + 2 >= static_cast<double>(a.checks_failed()));
  CHECK(checks(m, a.address(), "ok") >= static_cast<double>(a.checks_ok()) + 2);
}
