// End to end with a real Prometheus server (Debian package `prometheus`,
// installed by scripts/bootstrap-deps.sh): it scrapes the admin listener
// every second while traffic goes through the proxy, and its query API
// computes the median latency from routemeter's histogram.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// std::regex comes from harness.hpp, which silences a GCC 12 false warning in <regex>.
#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

const std::string kPrometheus = "/usr/bin/prometheus";
constexpr milliseconds kBackendDelay = 120ms;  // every answer: in the (0.1, 0.25] bucket

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The value of the first sample of an instant query, if the answer has one
// that is a finite number.
std::optional<double> query_value(uint16_t port, const std::string& expr, std::string* raw) {
  Response r = http_get(port, "/api/v1/query?query=" + url_encode(expr));
  *raw = r.body;
  if (r.status != 200) return std::nullopt;
  static const std::regex value_re(R"re("value"\s*:\s*\[\s*[0-9.eE+-]+\s*,\s*"([^"]+)"\s*\])re");
  std::smatch m;
  if (!std::regex_search(r.body, m, value_re)) return std::nullopt;
  const std::string text = m[1].str();
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

TEST_CASE("a real Prometheus scrapes routemeter and computes the median from its histogram",
          "[prometheus]") {
  INFO("needs " << kPrometheus << " (Debian package prometheus; scripts/bootstrap-deps.sh)");
  REQUIRE(::access(kPrometheus.c_str(), X_OK) == 0);

  TestBackend backend([](const ReceivedRequest&) { return Reply::ok("ok").after(kBackendDelay); });
  Routemeter proxy(proxy_config("\"" + backend.address() + "\"", "", "workers = 2"));
  TempDir dir;
  const std::string config =
      dir.write("prometheus.yml", fill(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: routemeter
    static_configs:
      - targets: ["127.0.0.1:{{admin}}"]
)",
                                       {{"admin", std::to_string(proxy.admin_port())}}));
  // Prometheus binds the port itself: a port found free may be taken by
  // another test before it does, so a clash is retried on another port.
  uint16_t prom_port = 0;
  std::unique_ptr<Process> prometheus;
  bool ready = false;
  for (int attempt = 0; attempt < 3 && !ready; ++attempt) {
    prom_port = unused_port();
    prometheus = std::make_unique<Process>(
        kPrometheus,
        std::vector<std::string>{
            "--config.file=" + config, "--storage.tsdb.path=" + dir.path() + "/data",
            "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"});
    ready = wait_until(
        [&] { return !prometheus->running() || http_get(prom_port, "/-/ready").status == 200; },
        60s, 100ms);
    ready = ready && prometheus->running();
  }

  // Traffic from two client threads until the query answers (at most 30 s).
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  auto send_traffic = [&] {
    const auto deadline = Clock::now() + 30s;
    while (!stop.load() && Clock::now() < deadline) {
      if (http_get(proxy.proxy_port(), "/work").status == 200) ++answered;
    }
  };
  std::thread traffic_a(send_traffic);
  std::thread traffic_b(send_traffic);

  std::string raw;
  std::optional<double> median;
  const std::string median_query =
      "histogram_quantile(0.5, sum by (le) "
      "(rate(routemeter_request_duration_seconds_bucket[30s])))";
  const bool answered_median = ready && wait_until(
                                            [&] {
                                              median = query_value(prom_port, median_query, &raw);
                                              return median.has_value();
                                            },
                                            25s, 250ms);
  std::optional<double> up = query_value(prom_port, "up{job=\"routemeter\"}", &raw);
  stop = true;
  traffic_a.join();
  traffic_b.join();

  INFO("prometheus stderr:\n" << prometheus->stderr_text());
  INFO("last query answer: " << raw);
  REQUIRE(ready);
  REQUIRE(answered_median);
  CHECK(answered.load() > 0);
  // Every request took the backend's 120 ms plus a little: the median lies
  // in the (0.1, 0.25] bucket.
  CHECK(*median > 0.1);
  CHECK(*median <= 0.25);
  REQUIRE(up.has_value());
  CHECK(*up == 1);
}
