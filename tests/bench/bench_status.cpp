// What GET /status costs the admin thread (docs/performance.md, "The status
// page"): one tick (collect requests_total, the duration histogram and
// requests_in_flight, then make a point per row) and one /status.json answer
// with 90 points kept, for 10 routes on 5 upstreams, each route with traffic
// on 2 methods and 3 status codes (the series a busy route has). The request
// path is not involved: the workers record exactly what they did before.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "routemeter/config.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/router.hpp"
#include "routemeter/status_history.hpp"

namespace {

using routemeter::Config;
using routemeter::Metrics;
using routemeter::MetricsBinding;
using routemeter::RequestRecord;
using routemeter::Router;

std::shared_ptr<Config> make_config(int routes) {
  auto c = std::make_shared<Config>();
  c->metrics.top_paths = 0;
  for (int u = 0; u < routes / 2; ++u) {
    routemeter::UpstreamConfig up;
    up.name = "up" + std::to_string(u);
    up.servers.push_back({"127.0.0.1", static_cast<uint16_t>(10000 + u)});
    c->upstreams.push_back(up);
    for (int r = 0; r < 2; ++r) {
      routemeter::RouteConfig rc;
      rc.name = "r" + std::to_string(u) + "_" + std::to_string(r);
      rc.match = routemeter::PathMatch::kPrefix;
      rc.path = "/" + rc.name + "/";
      rc.upstream = up.name;
      rc.upstream_index = static_cast<size_t>(u);
      c->routes.push_back(rc);
    }
  }
  return c;
}

struct Fixture {
  explicit Fixture(int routes)
      : config(make_config(routes)),
        metrics(config->metrics, 2),
        router(*config),
        binding(metrics, *config) {
    // Every route x {GET, POST} x {200, 404, 503}, on both workers.
    uint64_t t = 1'000'000'000;
    for (size_t w = 0; w < 2; ++w) {
      for (const auto& route : router.routes()) {
        for (auto method : {routemeter::http::Method::kGet, routemeter::http::Method::kPost}) {
          for (int status : {200, 404, 503}) {
            RequestRecord rec;
            rec.route = &route;
            rec.method = method;
            rec.status = status;
            rec.start_ns = t;
            t += 3'000'000;
            rec.end_ns = t;
            binding.begin(w, rec);
            binding.record(w, rec);
          }
        }
      }
    }
  }
  std::shared_ptr<Config> config;
  Metrics metrics;
  Router router;
  MetricsBinding binding;
};

void BM_StatusTick(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  routemeter::StatusHistory history(std::chrono::seconds(10));
  history.set_rows(routemeter::status_rows(*f.config), routemeter::read_status(f.metrics));
  double now = 0;
  for (auto _ : state) {
    history.tick(routemeter::read_status(f.metrics), 1e9 + now, now);
    now += 10;
  }
}
BENCHMARK(BM_StatusTick)->ArgName("routes")->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

void BM_StatusJson(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  routemeter::StatusHistory history(std::chrono::seconds(10));
  history.set_rows(routemeter::status_rows(*f.config), routemeter::read_status(f.metrics));
  for (int i = 0; i <= 90; ++i) {
    history.tick(routemeter::read_status(f.metrics), 1e9 + (i * 10.0), i * 10.0);
  }
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string json = history.json(routemeter::read_status(f.metrics), 1e9 + 1000);
    bytes = json.size();
    benchmark::DoNotOptimize(json.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_StatusJson)->ArgName("routes")->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace
