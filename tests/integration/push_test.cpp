// [push] against the real Pushgateway (Debian's prometheus-pushgateway): the
// exposition arrives under the job and grouping key, every interval and once
// more on SIGTERM; a Pushgateway that refuses, fails or never answers is
// counted in routemeter_push_total{result="failed"} and logged, while the
// proxy serves and stops as usual.
#include <catch2/catch.hpp>
#include <csignal>
#include <memory>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

const std::string kPushgateway = "/usr/bin/prometheus-pushgateway";

// A Pushgateway on 127.0.0.1, metrics in memory only; ready when constructed.
// Waits on the Pushgateway (a Go binary started per test) and on pushes:
// generous, since a loaded machine starts and answers slowly (waits for a
// condition end as soon as it holds).
constexpr milliseconds kPushWait = 30s;

class Pushgateway {
 public:
  Pushgateway() {
    // unused_port() can be taken by someone else before the gateway binds
    // it: try a few.
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = unused_port();
      auto p = std::make_unique<Process>(
          kPushgateway,
          std::vector<std::string>{"--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                   "--persistence.file=", "--log.level=warn"});
      const bool ready = wait_until(
          [&] { return !p->running() || http_get(port_, "/-/ready").status == 200; }, kPushWait);
      if (ready && p->running()) process_ = std::move(p);
    }
    if (!process_) throw std::runtime_error("prometheus-pushgateway did not start");
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string metrics() const { return http_get(port_, "/metrics").body; }

 private:
  uint16_t port_ = 0;
  std::unique_ptr<Process> process_;
};

std::string push_config(const std::string& backend, const std::string& push) {
  return proxy_config("\"" + backend + "\"", "", "workers = 2") + "\n[push]\n" + push + "\n";
}

// The pushed value of a series in the Pushgateway's exposition, which adds
// the job and grouping labels.
double pushed(const std::string& gateway_text, const std::string& name,
              std::map<std::string, std::string> labels, const std::string& instance) {
  labels["job"] = "routemeter";
  labels["instance"] = instance;
  return find_metric(gateway_text, name, labels).value_or(NAN);
}

double push_total(uint16_t admin_port, const std::string& result) {
  return find_metric(scrape(admin_port), "routemeter_push_total", {{"result", result}})
      .value_or(NAN);
}

Response get(uint16_t port, const std::string& target) {
  HttpClient client(port);
  return client.request("GET", target, {{"Connection", "close"}});
}

}  // namespace

TEST_CASE("push: the Pushgateway gets the exposition at start and a last push on SIGTERM",
          "[push]") {
  Pushgateway gateway;
  TestBackend backend;
  // An hour between pushes: what the gateway shows after the requests can
  // only come from the push at SIGTERM. The instance holds a '/' (base64 in
  // the URL).
  Routemeter proxy(push_config(backend.address(), "url = \"" + gateway.url() +
                                                      "\"\ninterval = \"1h\"\n"
                                                      "grouping = { instance = \"edge/1\" }"));
  std::string g;
  REQUIRE(wait_until(
      [&] {
        g = gateway.metrics();
        return sum_metric(g, "routemeter_build_info",
                          {{"job", "routemeter"}, {"instance", "edge/1"}}) == 1;
      },
      kPushWait));
  INFO(g);
  CHECK(std::isnan(pushed(
      g, "routemeter_requests_total",
      {{"upstream", "app"}, {"route", "all"}, {"method", "GET"}, {"code", "200"}}, "edge/1")));
  // The Pushgateway has the push a moment before routemeter counts it.
  CHECK(wait_until([&] { return push_total(proxy.admin_port(), "ok") == 1; }, kPushWait));
  CHECK(push_total(proxy.admin_port(), "failed") == 0);

  for (int i = 0; i < 3; ++i) CHECK(get(proxy.proxy_port(), "/x").status == 200);
  REQUIRE(proxy.process().signal(SIGTERM));
  const auto exit = proxy.process().wait_exit(10s);
  REQUIRE(exit.has_value());
  CHECK(exit->ok());
  CHECK(proxy.process().stderr_text().find("pushed the final metrics") != std::string::npos);

  g = gateway.metrics();
  CHECK(pushed(g, "routemeter_requests_total",
               {{"upstream", "app"}, {"route", "all"}, {"method", "GET"}, {"code", "200"}},
               "edge/1") == 3);
  CHECK(pushed(g, "routemeter_request_duration_seconds_count",
               {{"upstream", "app"}, {"route", "all"}, {"method", "GET"}}, "edge/1") == 3);
  CHECK(pushed(g, "routemeter_push_total", {{"result", "ok"}}, "edge/1") == 1);
  CHECK(pushed(g, "routemeter_connections_total", {}, "edge/1") == 3);
  // The same families as /metrics: the summary and the process metrics too.
  CHECK(g.find("routemeter_request_latency_seconds{") != std::string::npos);
  CHECK(g.find("process_start_time_seconds{") != std::string::npos);
}

TEST_CASE("push: every interval, from a config reload on", "[push]") {
  Pushgateway gateway;
  TestBackend backend;
  Routemeter proxy(proxy_config("\"" + backend.address() + "\"", "", "workers = 2"));
  CHECK_FALSE(find_metric(scrape(proxy.admin_port()), "routemeter_push_total", {{"result", "ok"}})
                  .has_value());  // no [push]: no series
  proxy.write_config(push_config(backend.address(), "url = \"" + gateway.url() +
                                                        "\"\ninterval = \"100ms\"\n"
                                                        "job = \"edge\"\n"
                                                        "grouping = { instance = \"a\" }"));
  REQUIRE(proxy.reload());
  for (int i = 0; i < 4; ++i) CHECK(get(proxy.proxy_port(), "/x").status == 200);
  // Pushed again and again while running: the requests show up, and so do
  // several successful pushes.
  std::string g;
  CHECK(wait_until(
      [&] {
        g = gateway.metrics();
        return find_metric(g, "routemeter_requests_total",
                           {{"job", "edge"},
                            {"instance", "a"},
                            {"upstream", "app"},
                            {"route", "all"},
                            {"method", "GET"},
                            {"code", "200"}}) == 4.0;
      },
      kPushWait));
  CHECK(wait_until([&] { return push_total(proxy.admin_port(), "ok") >= 3; }, kPushWait));
  CHECK(push_total(proxy.admin_port(), "failed") == 0);
}

TEST_CASE("push: a Pushgateway that is down is counted and logged, and blocks nothing", "[push]") {
  TestBackend backend;
  const RefusingPort down;
  const std::string url = "http://127.0.0.1:" + std::to_string(down.port());
  Routemeter proxy(push_config(backend.address(), "url = \"" + url +
                                                      "\"\ninterval = \"100ms\"\n"
                                                      "grouping = { instance = \"i\" }"));
  CHECK(wait_until([&] { return push_total(proxy.admin_port(), "failed") >= 3; }, kPushWait));
  CHECK(push_total(proxy.admin_port(), "ok") == 0);
  // Logged once (the reason does not change), not once per push.
  const auto line = proxy.process().wait_for_stderr("push to " + url +
                                                    "/metrics/job/routemeter/instance/i failed: ");
  REQUIRE(line.has_value());
  CHECK(line->find("(1 in a row; the proxy is not affected)") != std::string::npos);
  for (int i = 0; i < 5; ++i) CHECK(get(proxy.proxy_port(), "/x").status == 200);
  REQUIRE(proxy.process().signal(SIGTERM));
  const auto exit = proxy.process().wait_exit(10s);
  REQUIRE(exit.has_value());
  CHECK(exit->ok());
  const std::string err = proxy.process().stderr_text();
  CHECK(err.find("(2 in a row") == std::string::npos);
}

TEST_CASE("push: a Pushgateway that never answers times out and SIGTERM is not held up", "[push]") {
  TestBackend backend;
  TestBackend silent([](const ReceivedRequest&) { return Reply::never_answer(); });
  // 100 ms between pushes: each may take 1 s (push_timeout's floor).
  Routemeter proxy(push_config(backend.address(),
                               "url = \"http://" + silent.address() + "\"\ninterval = \"100ms\""));
  CHECK(wait_until([&] { return push_total(proxy.admin_port(), "failed") >= 1; }, 10s));
  CHECK(proxy.process().wait_for_stderr("Operation timed out").has_value());
  // A push is in progress (the next began at once); the proxy serves anyway.
  CHECK(get(proxy.proxy_port(), "/x").status == 200);
  REQUIRE(proxy.process().signal(SIGTERM));
  // The push in progress is abandoned, the last one times out in 1 s.
  const auto exit = proxy.process().wait_exit(10s);
  REQUIRE(exit.has_value());
  CHECK(exit->ok());
}

TEST_CASE("push: a push the Pushgateway refuses is a failure with its reason", "[push]") {
  TestBackend backend;
  TestBackend refusing([](const ReceivedRequest&) {
    return Reply::with_status(400, "pushed metrics are invalid\n");
  });
  Routemeter proxy(push_config(backend.address(), "url = \"http://" + refusing.address() +
                                                      "\"\ninterval = \"1h\"\n"
                                                      "grouping = { instance = \"i\" }"));
  REQUIRE(refusing.wait_for_requests(1));
  const ReceivedRequest req = refusing.request(0);
  CHECK(req.method == "PUT");
  CHECK(req.target == "/metrics/job/routemeter/instance/i");
  CHECK(req.headers.get("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(req.body.find("# TYPE routemeter_requests_in_flight gauge") != std::string::npos);
  CHECK(wait_until([&] { return push_total(proxy.admin_port(), "failed") == 1; }, kPushWait));
  CHECK(proxy.process()
            .wait_for_stderr("failed: HTTP 400: pushed metrics are invalid (1 in a row")
            .has_value());
}
