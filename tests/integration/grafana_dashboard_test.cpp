// Every query of the shipped Grafana dashboard (conf/grafana/routemeter.json)
// and every rule of conf/rules.yml, run against a real Prometheus (Debian
// package `prometheus`) that scrapes a demo run: the car and shop demo
// backends behind routemeter, with SLOs, health checks, outlier ejection,
// per-server counters and TLS, plus the events some panels need to have
// happened (a server that refuses, one ejected for its 503s, a route slower
// than a second, a reload that worked and one that failed). The expressions
// are taken apart, substituted and checked by scripts/check-grafana-queries.py
// (docs/grafana.md): each must parse and return a finite value.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy_support.hpp"
#include "test_certificates.hpp"
#include "tls_client.hpp"

using namespace routemeter::test;

namespace {

const std::string kPrometheus = "/usr/bin/prometheus";
const std::string kPython = "/usr/bin/python3";
const std::string kSourceDir = ROUTEMETER_SOURCE_DIR;
constexpr milliseconds kSlowAnswer = 1200ms;  // the report route's p99 is above 1 s

// A demo backend on port 0; its port read from its start line.
uint16_t start_demo(Process& p) {
  static const std::regex kListening(
      R"(^routemeter-demo-backend: listening service=\w+ addr=127\.0\.0\.1:(\d+)$)");
  const auto line = p.wait_for_stderr_line(kListening, 10s);
  if (!line) throw std::runtime_error("demo backend did not start: " + p.stderr_text());
  std::smatch m;
  std::regex_search(*line, m, kListening);
  return static_cast<uint16_t>(std::stoul(m[1].str()));
}

// The demo config (conf/routemeter.toml's car and shop, with the SLO its
// comment suggests on both routes) on ephemeral ports, and a third upstream
// "report" whose servers are slow, failing and refusing.
std::string demo_config(uint16_t car, uint16_t shop, const std::string& slow,
                        const std::string& flaky, uint16_t refusing, const std::string& cert,
                        const std::string& key) {
  return fill(R"([server]
listen = ["127.0.0.1:0"]
workers = 2

[tls]
listen = ["127.0.0.1:0"]
[[tls.certificate]]
cert = "{{cert}}"
key = "{{key}}"

[admin]
listen = "127.0.0.1:0"

[metrics]
per_server = true

[log]
access = "off"

[[upstream]]
name = "car"
servers = ["127.0.0.1:{{car}}"]
  [upstream.health]
  interval = "1s"

[[upstream]]
name = "shop"
servers = ["127.0.0.1:{{shop}}"]
  [upstream.health]
  interval = "1s"

[[upstream]]
name = "report"
servers = ["{{slow}}", "{{flaky}}", "127.0.0.1:{{refusing}}"]
  [upstream.health]
  interval = "500ms"
  unhealthy_after = 2
  [upstream.outlier]
  consecutive_failures = 2
  base_ejection_time = "1s"

[[route]]
name = "car-api"
path_prefix = "/api/car/"
upstream = "car"
slo = { latency = "500ms", objective = 0.99 }

[[route]]
name = "shop-api"
path_prefix = "/api/shop/"
upstream = "shop"
slo = { latency = "500ms", objective = 0.99 }

[[route]]
name = "report-api"
path_prefix = "/api/report/"
upstream = "report"
)",
              {{"car", std::to_string(car)},
               {"shop", std::to_string(shop)},
               {"slow", slow},
               {"flaky", flaky},
               {"refusing", std::to_string(refusing)},
               {"cert", cert},
               {"key", key}});
}

// Starts Prometheus with `config`; a port lost to another program is retried.
std::unique_ptr<Process> start_prometheus(const std::string& config, const std::string& data,
                                          uint16_t& port) {
  std::unique_ptr<Process> prometheus;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port = unused_port();
    prometheus = std::make_unique<Process>(
        kPrometheus,
        std::vector<std::string>{"--config.file=" + config, "--storage.tsdb.path=" + data,
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port),
                                 "--log.level=warn"});
    const bool ready = wait_until(
        [&] { return !prometheus->running() || http_get(port, "/-/ready").status == 200; }, 60s,
        100ms);
    if (ready && prometheus->running()) return prometheus;
  }
  return prometheus;
}

double metric(uint16_t admin, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  return sum_metric(scrape(admin), name, labels);
}

}  // namespace

TEST_CASE("every query of the Grafana dashboard and of rules.yml returns data from Prometheus",
          "[prometheus][grafana]") {
  INFO("needs " << kPrometheus << " (Debian package prometheus; scripts/bootstrap-deps.sh)");
  REQUIRE(::access(kPrometheus.c_str(), X_OK) == 0);

  Process car(ROUTEMETER_DEMO_BACKEND, {"--service", "car", "--listen", "127.0.0.1:0"});
  Process shop(ROUTEMETER_DEMO_BACKEND, {"--service", "shop", "--listen", "127.0.0.1:0"});
  const uint16_t car_port = start_demo(car);
  const uint16_t shop_port = start_demo(shop);
  // Health checks pass on both report servers that listen; real requests
  // are slow on one, which closes its connections (so new upstream
  // connections, and their connect times, keep coming after keep-alive has
  // pooled car's and shop's), and 503 on the other (which outlier ejection
  // takes out); the third refuses, so its checks fail and it is down.
  TestBackend slow([](const ReceivedRequest& r) {
    if (r.target == "/healthz") return Reply::ok();
    Reply reply = Reply::ok("report").after(kSlowAnswer).header("Connection", "close");
    reply.close_after = true;
    return reply;
  });
  TestBackend flaky([](const ReceivedRequest& r) {
    return r.target == "/healthz" ? Reply::ok() : Reply::with_status(503, "unavailable");
  });
  RefusingPort refusing;
  TempDir dir;
  const routemeter::testing::TestCertificate cert =
      routemeter::testing::make_certificate(routemeter::testing::CertificateSpec{});
  const std::string config =
      demo_config(car_port, shop_port, slow.address(), flaky.address(), refusing.port(),
                  dir.write("cert.pem", cert.cert_pem), dir.write("key.pem", cert.key_pem));
  Routemeter proxy(config);
  const uint16_t admin = proxy.admin_port();

  const std::string prometheus_config = dir.write(
      "prometheus.yml",
      fill(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {{rules}}
scrape_configs:
  - job_name: routemeter
    static_configs:
      - targets: ["127.0.0.1:{{admin}}"]
)",
           {{"admin", std::to_string(admin)}, {"rules", kSourceDir + "/conf/rules.yml"}}));
  uint16_t prom_port = 0;
  std::unique_ptr<Process> prometheus =
      start_prometheus(prometheus_config, dir.path() + "/data", prom_port);
  INFO("prometheus stderr:\n" << prometheus->stderr_text());
  REQUIRE(prometheus->running());

  // Traffic until the check is done: car and shop as the demo sends it, the
  // slow and failing report route, and paths no route matches. Bounded by
  // the test's own deadline in case the check never returns.
  std::atomic<bool> stop{false};
  const auto traffic_deadline = Clock::now() + 240s;
  auto loop = [&](std::vector<std::string> paths) {
    while (!stop.load() && Clock::now() < traffic_deadline) {
      for (const std::string& path : paths) http_get(proxy.proxy_port(), path, {}, 10s);
    }
  };
  std::vector<std::thread> clients;
  clients.emplace_back(loop, std::vector<std::string>{"/api/car/random"});
  clients.emplace_back(loop, std::vector<std::string>{"/api/car/random", "/api/shop/random"});
  clients.emplace_back(loop, std::vector<std::string>{"/api/shop/random"});
  clients.emplace_back(loop, std::vector<std::string>{"/api/report/daily", "/nothing/here"});
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (std::thread& t : threads) t.join();
    }
  } joiner{stop, clients};

  // TLS: requests over HTTPS, and plain HTTP sent to the TLS port (a failed handshake).
  routemeter::test::TlsClientOptions tls;
  tls.ca_pem = cert.cert_pem;
  tls.server_name = "localhost";
  for (int i = 0; i < 3; ++i) {
    TlsTestClient client(proxy.tls_port(), tls);
    REQUIRE(client.connected());
    const Response r = client.request(
        "GET /api/shop/random HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    CHECK((r.status == 200 || r.status == 500));
  }
  {
    HttpClient plain(proxy.tls_port());
    plain.send_raw("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    plain.read_until_close();
  }

  // A reload that works, then one that fails (the first config keeps serving).
  proxy.write_config(config);
  REQUIRE(proxy.reload());
  REQUIRE(wait_until(
      [&] {
        return metric(admin, "routemeter_config_reloads_total", {{"result", "success"}}) == 1;
      },
      10s, 50ms));
  proxy.write_config("[server\nthis is not TOML\n");
  REQUIRE(proxy.reload());
  REQUIRE(wait_until(
      [&] {
        return metric(admin, "routemeter_config_reloads_total", {{"result", "failure"}}) == 1;
      },
      10s, 50ms));

  // The events the panels show, as routemeter counts them.
  std::string m;
  const bool happened = wait_until(
      [&] {
        m = scrape(admin);
        return sum_metric(m, "routemeter_upstream_ejections_total",
                          {{"server", flaky.address()}}) >= 1 &&
               sum_metric(m, "routemeter_upstream_server_up",
                          {{"server", "127.0.0.1:" + std::to_string(refusing.port())}}) == 0 &&
               sum_metric(m, "routemeter_upstream_health_checks_total", {{"result", "failed"}}) >=
                   1 &&
               sum_metric(m, "routemeter_tls_handshakes_total", {{"result", "ok"}}) >= 3 &&
               sum_metric(m, "routemeter_tls_handshakes_total", {{"result", "failed"}}) >= 1 &&
               sum_metric(m, "routemeter_slo_requests_total", {{"result", "error"}}) >= 1 &&
               sum_metric(m, "routemeter_requests_total",
                          {{"route", "report-api"}, {"code", "200"}}) >= 1;
      },
      30s, 100ms);
  INFO("last scrape:\n" << m);
  REQUIRE(happened);
  CHECK(metric(admin, "routemeter_config_last_reload_successful") == 0);

  // Every expression, retried for up to 60 s while Prometheus catches up
  // (rates need two scrapes; the rules one evaluation after them).
  const CommandResult check = run_command(
      kPython,
      {kSourceDir + "/scripts/check-grafana-queries.py", "--prometheus",
       "http://127.0.0.1:" + std::to_string(prom_port), "--dashboard",
       kSourceDir + "/conf/grafana/routemeter.json", "--rules", kSourceDir + "/conf/rules.yml",
       "--rate-interval", "1m", "--interval", "15s", "--range", "1h", "--wait", "60"},
      90s);
  INFO("check-grafana-queries.py:\n" << check.out << check.err);
  CHECK(check.status.ok());
  static const std::regex kSummary(
      R"((\d+) variable queries, (\d+) panel queries, (\d+) rules: (\d+) of (\d+) returned data .*0 allowed empty)");
  std::smatch s;
  REQUIRE(std::regex_search(check.out, s, kSummary));
  CHECK(std::stoi(s[1].str()) == 4);   // job, instance, upstream, route
  CHECK(std::stoi(s[2].str()) >= 60);  // every row has its panels
  CHECK(std::stoi(s[3].str()) == 19);  // as promtool check rules counts them
  CHECK(s[4].str() == s[5].str());
}
