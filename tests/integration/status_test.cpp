// GET /status.json, GET /status and `routemeter top` on the real binary
// (docs/status.md): exact totals and points from known traffic, in flight,
// the token rules (the page loads without it, the data does not), reloads,
// and top's table and exit codes. [admin] status_interval = "200ms" keeps
// the tests from waiting 10 s for a point.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "proxy_support.hpp"
#include "routemeter/json_value.hpp"

using namespace routemeter::test;
using routemeter::JsonValue;

namespace {

std::string status_config(const TestBackend& backend, const std::string& admin_extra,
                          const std::string& routes) {
  return fill(R"([server]
listen = ["127.0.0.1:0"]
workers = 2

[admin]
listen = "127.0.0.1:0"
status_interval = "200ms"
{{admin_extra}}

[log]
access = "off"

[[upstream]]
name = "app"
servers = ["{{backend}}"]
{{routes}})",
              {{"backend", backend.address()}, {"admin_extra", admin_extra}, {"routes", routes}});
}

const std::string kRoutesAB = R"(
[[route]]
name = "a"
path_prefix = "/a/"
upstream = "app"

[[route]]
name = "b"
path_prefix = "/b/"
upstream = "app"
)";

const std::string kRoutesAC = R"(
[[route]]
name = "a"
path_prefix = "/a/"
upstream = "app"

[[route]]
name = "c"
path_prefix = "/c/"
upstream = "app"
)";

// /x/fail answers 503 and everything else 200, after 30 ms; /b/hold waits for `gate`.
Handler backend_handler(const Gate& gate) {
  return [gate](const ReceivedRequest& req) {
    if (req.target.find("/hold") != std::string::npos) return Reply::ok("held").held_by(gate);
    if (req.target.find("/fail") != std::string::npos) {
      return Reply::with_status(503, "no").after(30ms);
    }
    return Reply::ok("ok").after(30ms);
  };
}

JsonValue status_json(uint16_t admin_port, const std::string& token = "") {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  Response r = http_get(admin_port, "/status.json", headers);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/json");
  std::string error;
  std::optional<JsonValue> v = JsonValue::parse(r.body, &error);
  INFO(error);
  REQUIRE(v.has_value());
  return *v;
}

const JsonValue& row(const JsonValue& status, const std::string& kind, const std::string& name) {
  for (const JsonValue& r : status[kind].items()) {
    if (r[kind == "routes" ? "route" : "upstream"].string() == name) return r;
  }
  static const JsonValue kNull;
  return kNull;
}

double sum(const JsonValue& values) {
  double s = 0;
  for (const JsonValue& v : values.items()) s += v.number_or(0);
  return s;
}

void send(uint16_t port, const std::string& path, int times, int status) {
  for (int i = 0; i < times; ++i) {
    Response r = http_get(port, path);
    CHECK(r.status == status);
  }
}

std::string top_binary() { return ROUTEMETER_BINARY; }

}  // namespace

TEST_CASE("/status.json counts known traffic exactly per route and upstream", "[status]") {
  Gate gate;
  TestBackend backend(backend_handler(gate));
  Routemeter proxy(status_config(backend, "", kRoutesAB));
  const uint16_t port = proxy.proxy_port();
  send(port, "/a/ok", 7, 200);
  send(port, "/a/fail", 3, 503);
  send(port, "/b/ok", 4, 200);
  send(port, "/nowhere", 1, 404);

  // Every request in a point: the points add up to the totals.
  JsonValue s;
  REQUIRE(wait_until(
      [&] {
        s = status_json(proxy.admin_port());
        return sum(row(s, "routes", "a")["series"]["requests"]) == 10 &&
               sum(row(s, "routes", "b")["series"]["requests"]) == 4 &&
               sum(row(s, "upstreams", "app")["series"]["requests"]) == 14;
      },
      10s));
  INFO(s["routes"].items().size());
  CHECK(s["interval_seconds"].number_or(0) == Approx(0.2));
  CHECK(s["points_kept"].number_or(0) == 90);
  const JsonValue& a = row(s, "routes", "a");
  CHECK(a["upstream"].string() == "app");
  CHECK(a["totals"]["requests"].number_or(-1) == 10);
  CHECK(a["totals"]["errors"].number_or(-1) == 3);
  CHECK(a["totals"]["error_ratio"].number_or(-1) == Approx(0.3));
  CHECK(a["totals"]["in_flight"].is_null());  // in flight is per upstream
  CHECK(sum(a["series"]["errors"]) == 3);
  const JsonValue& b = row(s, "routes", "b");
  CHECK(b["totals"]["requests"].number_or(-1) == 4);
  CHECK(b["totals"]["errors"].number_or(-1) == 0);
  const JsonValue& unmatched = row(s, "routes", "unmatched");
  CHECK(unmatched["upstream"].string() == "none");
  CHECK(unmatched["totals"]["requests"].number_or(-1) == 1);
  const JsonValue& app = row(s, "upstreams", "app");
  CHECK(app["totals"]["requests"].number_or(-1) == 14);
  CHECK(app["totals"]["errors"].number_or(-1) == 3);
  CHECK(app["totals"]["in_flight"].number_or(-1) == 0);
  CHECK(s["upstreams"].items().size() == 1);  // "none" is the unmatched route, not an upstream

  // Each point: rate = requests over its own length, error ratio = errors /
  // requests, quantiles from the bucket of 30 ms (25-50 ms) up.
  const JsonValue& times = s["timestamps"];
  const JsonValue& series = a["series"];
  REQUIRE(times.items().size() >= 2);
  for (const char* column : {"requests", "errors", "rate", "error_ratio", "p50", "p99"}) {
    CHECK(series[column].items().size() == times.items().size());
  }
  int points_with_requests = 0;
  for (size_t i = 1; i < times.items().size(); ++i) {
    const double requests = series["requests"].items()[i].number_or(-1);
    if (requests <= 0) {
      CHECK(series["error_ratio"].items()[i].is_null());
      CHECK(series["p50"].items()[i].is_null());
      continue;
    }
    ++points_with_requests;
    const double seconds = times.items()[i].number_or(0) - times.items()[i - 1].number_or(0);
    CHECK(series["rate"].items()[i].number_or(0) ==
          Approx(requests / seconds).epsilon(0.05).margin(0.5));
    CHECK(series["error_ratio"].items()[i].number_or(-1) ==
          Approx(series["errors"].items()[i].number_or(0) / requests));
    const double p50 = series["p50"].items()[i].number_or(-1);
    const double p99 = series["p99"].items()[i].number_or(-1);
    CHECK(p50 >= 0.025);  // every answer takes 30 ms or more: a lower bound only
    CHECK(p50 <= p99);
  }
  CHECK(points_with_requests >= 1);
  CHECK(series["in_flight"].items().back().is_null());
  CHECK(row(s, "upstreams", "app")["series"]["in_flight"].items().back().number_or(-1) == 0);
  CHECK(a["last"]["requests"].number_or(-1) == series["requests"].items().back().number_or(-2));

  // In flight: two requests held by the backend.
  std::thread h1([port] { http_get(port, "/b/hold", {}, 20s); });
  std::thread h2([port] { http_get(port, "/b/hold", {}, 20s); });
  CHECK(wait_until(
      [&] {
        return row(status_json(proxy.admin_port()), "upstreams", "app")["totals"]["in_flight"]
                   .number_or(-1) == 2;
      },
      10s));
  CHECK(wait_until(
      [&] {
        const JsonValue now = status_json(proxy.admin_port());  // outlives the reference
        const JsonValue& in_flight = row(now, "upstreams", "app")["series"]["in_flight"];
        return !in_flight.items().empty() && in_flight.items().back().number_or(-1) == 2;
      },
      10s));
  gate.open();
  h1.join();
  h2.join();
  CHECK(wait_until(
      [&] {
        const JsonValue now = status_json(proxy.admin_port());
        return row(now, "upstreams", "app")["totals"]["in_flight"].number_or(-1) == 0 &&
               row(now, "routes", "b")["totals"]["requests"].number_or(-1) == 6;
      },
      10s));
}

TEST_CASE("/status.json needs the admin token and /status loads without it", "[status][admin]") {
  TestBackend backend;
  Routemeter proxy(status_config(backend, "token = \"s3cret\"", kRoutesAB));
  const uint16_t admin = proxy.admin_port();
  CHECK(http_get(admin, "/status.json").status == 401);
  CHECK(http_get(admin, "/status.json", {{"Authorization", "Bearer nope"}}).status == 401);
  CHECK(status_json(admin, "s3cret")["routes"].items().size() == 3);
  CHECK(http_get(admin, "/metrics").status == 401);
  CHECK(http_get(admin, "/").status == 401);
  CHECK(http_get(admin, "/nope").status == 401);
  CHECK(http_get(admin, "/healthz").status == 200);

  Response page = http_get(admin, "/status");
  REQUIRE(page.status == 200);
  CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(page.body.find("data-auth=\"required\"") != std::string::npos);
  // No data in it: no route, no upstream, no number of the status.
  CHECK(page.body.find("\"a\"") == std::string::npos);
  CHECK(page.body.find("\"app\"") == std::string::npos);
  CHECK(page.body.find("s3cret") == std::string::npos);
  // Its script and style run by nonce, and nothing else.
  const std::optional<std::string> csp = page.header("Content-Security-Policy");
  REQUIRE(csp.has_value());
  const std::regex nonce_re("script-src 'nonce-([A-Za-z0-9+/=]+)'");
  std::smatch m;
  REQUIRE(std::regex_search(*csp, m, nonce_re));
  CHECK(page.body.find("<script nonce=\"" + m[1].str() + "\">") != std::string::npos);
  CHECK(page.body.find("<style nonce=\"" + m[1].str() + "\">") != std::string::npos);
  CHECK(csp->find("default-src 'none'") != std::string::npos);
  CHECK(csp->find("connect-src 'self'") != std::string::npos);
  CHECK(csp->find("unsafe") == std::string::npos);
  CHECK(page.body.find("http://") == std::string::npos);  // no external asset
  CHECK(page.body.find("https://") == std::string::npos);
  // A fresh nonce per answer.
  CHECK(http_get(admin, "/status").header("Content-Security-Policy") != csp);

  Routemeter open_proxy(status_config(backend, "", kRoutesAB));
  Response open_page = http_get(open_proxy.admin_port(), "/status");
  CHECK(open_page.status == 200);
  CHECK(open_page.body.find("data-auth=\"none\"") != std::string::npos);
}

TEST_CASE("/status.json follows a reload: a kept route keeps its history and a new one starts at 0",
          "[status][reload]") {
  Gate gate;
  TestBackend backend(backend_handler(gate));
  Routemeter proxy(status_config(backend, "", kRoutesAB));
  const uint16_t port = proxy.proxy_port();
  send(port, "/a/ok", 3, 200);
  send(port, "/b/ok", 2, 200);
  JsonValue before;
  REQUIRE(wait_until(
      [&] {
        before = status_json(proxy.admin_port());
        return sum(row(before, "routes", "a")["series"]["requests"]) == 3 &&
               sum(row(before, "routes", "b")["series"]["requests"]) == 2;
      },
      10s));

  proxy.write_config(status_config(backend, "", kRoutesAC));
  Response reload = [&] {
    HttpClient client(proxy.admin_port());
    return client.request("POST", "/-/reload", {{"Connection", "close"}, {"Content-Length", "0"}});
  }();
  REQUIRE(reload.status == 200);
  JsonValue after = status_json(proxy.admin_port());
  std::vector<std::string> names;
  for (const JsonValue& r : after["routes"].items()) names.push_back(r["route"].string());
  CHECK(names == std::vector<std::string>{"a", "c", "unmatched"});
  CHECK(row(after, "routes", "a")["totals"]["requests"].number_or(-1) == 3);
  CHECK(row(after, "routes", "c")["totals"]["requests"].number_or(-1) == 0);

  send(port, "/c/ok", 2, 200);
  send(port, "/a/ok", 1, 200);
  REQUIRE(wait_until(
      [&] {
        after = status_json(proxy.admin_port());
        return sum(row(after, "routes", "c")["series"]["requests"]) == 2 &&
               sum(row(after, "routes", "a")["series"]["requests"]) == 4;
      },
      10s));
  // c's points before the reload are null (it did not exist); a's are kept.
  const JsonValue& c_requests = row(after, "routes", "c")["series"]["requests"];
  REQUIRE(!c_requests.items().empty());
  CHECK(c_requests.items().front().is_null());
  CHECK(row(after, "routes", "a")["series"]["requests"].items().front().is_number());
  // The upstream's totals are those of its routes' series now: b's left
  // /metrics with it (once the old config's last request was done).
  const JsonValue& app = row(after, "upstreams", "app");
  CHECK(app["totals"]["requests"].number_or(-1) ==
        row(after, "routes", "a")["totals"]["requests"].number_or(-2) +
            row(after, "routes", "c")["totals"]["requests"].number_or(-2));
  // Its points are its routes': b leaving is not traffic (3 + 2, then 2 + 1).
  CHECK(sum(app["series"]["requests"]) == 8);
}

TEST_CASE("routemeter top --once prints the table of known traffic", "[status][top]") {
  Gate gate;
  TestBackend backend(backend_handler(gate));
  Routemeter proxy(status_config(backend, "", kRoutesAB));
  const uint16_t port = proxy.proxy_port();
  send(port, "/a/ok", 7, 200);
  send(port, "/a/fail", 3, 503);
  send(port, "/b/ok", 4, 200);
  REQUIRE(wait_until(
      [&] {
        return sum(row(status_json(proxy.admin_port()), "routes", "a")["series"]["requests"]) == 10;
      },
      10s));
  const std::string admin = "127.0.0.1:" + std::to_string(proxy.admin_port());
  CommandResult top = run_command(top_binary(), {"top", "--admin", admin, "--once"});
  INFO(top.out << top.err);
  REQUIRE(top.status.ok());
  CHECK(top.out.find('\x1b') == std::string::npos);  // plain text for scripts
  CHECK(top.out.starts_with("routemeter top  " + admin + "  0.2 s points, sorted by rate"));
  const std::regex route_a(R"(\na\s+app\s+[-0-9.]+\s+\S+\s+\S+\s+\S+\s+-\s+10\s+30\.0%\n)");
  const std::regex route_b(R"(\nb\s+app\s+[-0-9.]+\s+\S+\s+\S+\s+\S+\s+-\s+4\s+0\.0%\n)");
  const std::regex upstream(R"(\napp\s+[-0-9.]+\s+\S+\s+\S+\s+\S+\s+0\s+14\s+21\.4%\n)");
  CHECK(std::regex_search(top.out, route_a));
  CHECK(std::regex_search(top.out, route_b));
  CHECK(std::regex_search(top.out, upstream));
  CHECK(top.out.find("\nROUTE ") != std::string::npos);
  CHECK(top.out.find("\nUPSTREAM ") != std::string::npos);
  CHECK(top.out.find("unmatched") == std::string::npos);  // no unmatched request

  // --sort errors (the order itself: tests/unit/top_test.cpp; here the
  // last point changes every 200 ms).
  CommandResult by_errors =
      run_command(top_binary(), {"top", "--admin", admin, "--once", "--sort=errors"});
  CHECK(by_errors.status.ok());
  CHECK(by_errors.out.find("sorted by errors") != std::string::npos);
}

TEST_CASE("routemeter top exits 3 on a refused connection and 4 on a missing or wrong token",
          "[status][top]") {
  RefusingPort refusing;
  CommandResult refused = run_command(
      top_binary(), {"top", "--admin", "127.0.0.1:" + std::to_string(refusing.port()), "--once"});
  CHECK(refused.status.exited);
  CHECK(refused.status.code == 3);
  CHECK(refused.err.find("cannot connect to 127.0.0.1:" + std::to_string(refusing.port()) +
                         ": Connection refused") != std::string::npos);
  // Not only with --once: a first failure ends the live view too.
  CommandResult live =
      run_command(top_binary(), {"top", "--admin", "127.0.0.1:" + std::to_string(refusing.port())});
  CHECK(live.status.code == 3);

  TestBackend backend;
  Routemeter proxy(status_config(backend, "token = \"s3cret\"", kRoutesAB));
  const std::string admin = "127.0.0.1:" + std::to_string(proxy.admin_port());
  TempDir dir;
  const std::string wrong = dir.write("wrong", "nope\n");
  const std::string right = dir.write("right", "s3cret\n");

  CommandResult no_token = run_command(top_binary(), {"top", "--admin", admin, "--once"});
  CHECK(no_token.status.code == 4);
  CHECK(no_token.err.find("answered 401: the admin listener has a token; give it with "
                          "--token-file") != std::string::npos);
  CommandResult bad =
      run_command(top_binary(), {"top", "--admin", admin, "--once", "--token-file", wrong});
  CHECK(bad.status.code == 4);
  CHECK(bad.err.find("answered 401: the token was refused") != std::string::npos);
  CommandResult good =
      run_command(top_binary(), {"top", "--admin", admin, "--once", "--token-file", right});
  INFO(good.err);
  CHECK(good.status.ok());
  CHECK(good.out.find("\nROUTE ") != std::string::npos);

  CommandResult missing = run_command(
      top_binary(), {"top", "--admin", admin, "--once", "--token-file", dir.path() + "/none"});
  CHECK(missing.status.code == 2);
  CHECK(run_command(top_binary(), {"top", "--sort", "latency"}).status.code == 2);
  CHECK(run_command(top_binary(), {"top", "--admin", "nohost"}).status.code == 2);
}
