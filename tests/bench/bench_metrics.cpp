// The cost of metrics: the whole per-request record (requests_total, in-flight
// up/down, histogram, summary sketch, bytes, the upstream connect/header
// histograms) through MetricsBinding, single
// threaded and from 2 threads at once, with and without the features of
// issue 12 (an slo, the top paths, exemplars), the top paths' sketch alone,
// finding the traceparent among a head's fields, and
// rendering /metrics with ~10,000 series (bars: <= 300 ns per record, <= 100
// ns for the top paths, <= 50 ms per render). Figures: docs/performance.md,
// section "Metrics on the request path".
#include <benchmark/benchmark.h>

#include <charconv>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "routemeter/config.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/router.hpp"

namespace {

using routemeter::Config;
using routemeter::Metrics;
using routemeter::MetricsBinding;
using routemeter::RequestRecord;
using routemeter::Router;

// What BM_RecordRequest's argument turns on.
constexpr int kSlo = 1;        // every route has an `slo` (routemeter_slo_requests_total)
constexpr int kTopPaths = 2;   // [metrics] top_paths = 20 (else 0)
constexpr int kExemplars = 4;  // [metrics] exemplars = true (else false), every request traced

std::shared_ptr<Config> make_config(int upstreams, int routes_per_upstream, int features = 0) {
  auto c = std::make_shared<Config>();
  c->metrics.top_paths = (features & kTopPaths) != 0 ? 20 : 0;
  c->metrics.exemplars = (features & kExemplars) != 0;
  for (int u = 0; u < upstreams; ++u) {
    routemeter::UpstreamConfig up;
    up.name = "up" + std::to_string(u);
    up.servers.push_back({"127.0.0.1", static_cast<uint16_t>(10000 + u)});
    c->upstreams.push_back(up);
    for (int r = 0; r < routes_per_upstream; ++r) {
      routemeter::RouteConfig rc;
      rc.name = "r" + std::to_string(u) + "_" + std::to_string(r);
      rc.match = routemeter::PathMatch::kPrefix;
      rc.path = "/" + rc.name + "/";
      rc.upstream = up.name;
      rc.upstream_index = static_cast<size_t>(u);
      if ((features & kSlo) != 0) {
        rc.slo = routemeter::SloConfig{std::chrono::milliseconds(300), 0.999};
      }
      c->routes.push_back(rc);
    }
  }
  return c;
}

struct Fixture {
  explicit Fixture(int workers, int upstreams = 2, int routes = 2, int features = 0)
      : config(make_config(upstreams, routes, features)),
        metrics(config->metrics, static_cast<size_t>(workers)),
        router(*config),
        binding(metrics, *config) {}
  std::shared_ptr<Config> config;
  Metrics metrics;
  Router router;
  MetricsBinding binding;
};

Fixture* g_shared = nullptr;

// state.range(0): kSlo | kTopPaths. The paths: 64 of 20-30 bytes in turn
// (what a route's hot paths look like: each one monitored after its first).
void BM_RecordRequest(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_shared = new Fixture(state.threads(), 2, 2, static_cast<int>(state.range(0)));
  }
  std::vector<std::string> paths;
  for (int i = 0; i < 64; ++i) paths.push_back("/r0_0/api/items/" + std::to_string(i * 7919));
  // Catch2-style barrier: google benchmark syncs threads before the loop.
  const routemeter::TraceId trace{0x4bf92f3577b34da6, 0xa3ce929d0e0e4736};
  RequestRecord rec;
  uint64_t t = 1'000'000'000;
  size_t n = 0;
  for (auto _ : state) {
    rec.clear();
    rec.path.assign(paths[n++ % paths.size()]);
    if ((state.range(0) & kExemplars) != 0) rec.trace_id = trace;
    rec.route = &g_shared->router.routes()[state.thread_index() % 2];
    rec.method = routemeter::http::Method::kGet;
    rec.status = (t & 7) == 0 ? 500 : 200;
    rec.request_body_bytes = 10;
    rec.response_body_bytes = 120;
    rec.start_ns = t;
    t += 150'000 + (t % 7) * 10'000;
    rec.end_ns = t;
    // The upstream's part: a pooled connection, one new one in 16.
    if ((t & 15) == 0) {
      rec.upstream_times.connect_start_ns = rec.start_ns + 1'000;
      rec.upstream_times.connected_ns = rec.start_ns + 60'000;
    }
    rec.upstream_times.sent_ns = rec.start_ns + 70'000;
    rec.upstream_times.head_ns = t - 20'000;
    g_shared->binding.begin(static_cast<size_t>(state.thread_index()), rec);
    g_shared->binding.record(static_cast<size_t>(state.thread_index()), rec);
  }
  if (state.thread_index() == 0) {
    delete g_shared;
    g_shared = nullptr;
  }
}
BENCHMARK(BM_RecordRequest)
    ->ArgName("features")
    ->Arg(0)
    ->Arg(kSlo)
    ->Arg(kTopPaths)
    ->Arg(kSlo | kTopPaths)
    ->Arg(kExemplars)
    ->Arg(kSlo | kTopPaths | kExemplars)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// The clock read the exchange adds per request for the upstream timing (two:
// request sent, head parsed; one more per new connection).
void BM_MonotonicNs(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(routemeter::monotonic_ns());
}
BENCHMARK(BM_MonotonicNs);

// RouteTopPaths::observe alone (what kTopPaths adds to a record), one worker:
// state.range(0) distinct paths in turn. 64: every path is monitored (a hash,
// a probe, a short sift); 1,000,000: every request is a path never seen
// (the worst case: each one replaces the least counted).
void BM_TopPathsObserve(benchmark::State& state) {
  routemeter::RouteTopPaths top(1, 20 * routemeter::kTopPathsCapacityFactor,
                                routemeter::kTopPathsGeneration);
  const auto distinct = static_cast<uint64_t>(state.range(0));
  // The paths are written into one buffer as they are needed: reading a
  // million prepared strings would measure cache misses of the benchmark.
  char path[32] = "/api/items/";
  constexpr size_t kPrefix = 11;
  uint64_t t = 1'000'000'000;
  uint64_t n = 0;
  for (auto _ : state) {
    const auto [end, ec] =
        std::to_chars(path + kPrefix, path + sizeof path, (n++ % distinct) * 7919);
    top.observe(0, std::string_view(path, static_cast<size_t>(end - path)), false,
                (t & 7) == 0 ? 500 : 200, 150'000 + (t % 7) * 10'000, t);
    t += 1000;
  }
}
BENCHMARK(BM_TopPathsObserve)->ArgName("distinct")->Arg(64)->Arg(1'000'000);

// What parse_head adds for exemplars: find_trace_id over a browser-like
// head's 9 fields, the last a traceparent (range 1) or none (range 0).
void BM_FindTraceId(benchmark::State& state) {
  std::vector<routemeter::http::Header> headers = {
      {"Host", "shop.example.com"},
      {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"},
      {"Accept", "text/html,application/xhtml+xml"},
      {"Accept-Language", "en-US,en;q=0.5"},
      {"Accept-Encoding", "gzip, deflate, br"},
      {"Connection", "keep-alive"},
      {"Cookie", "session=0123456789abcdef"},
      {"X-Request-Id", "8c1e2f3a-1b2c-4d5e-8f90-123456789abc"}};
  if (state.range(0) != 0) {
    headers.push_back({"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"});
  }
  for (auto _ : state) {
    routemeter::TraceId id = routemeter::find_trace_id(headers);
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(BM_FindTraceId)->ArgName("traced")->Arg(0)->Arg(1);

// state.range(0): 0 = text 0.0.4; 1 = OpenMetrics, every request traced (an
// exemplar on each bucket a request fell into).
void BM_RenderMetrics(benchmark::State& state) {
  // 50 upstreams x 10 routes x 4 methods x 5 codes = 10,000 requests_total
  // series, plus their histograms and summaries (50 x 10 x 4 each).
  const bool openmetrics = state.range(0) != 0;
  Fixture f(2, 50, 10, openmetrics ? kExemplars : 0);
  const routemeter::http::Method methods[] = {
      routemeter::http::Method::kGet, routemeter::http::Method::kPost,
      routemeter::http::Method::kPut, routemeter::http::Method::kDelete};
  const int codes[] = {200, 201, 404, 500, 503};
  RequestRecord rec;
  uint64_t t = 1'000'000'000;
  for (const auto& route : f.router.routes()) {
    for (auto m : methods) {
      for (int code : codes) {
        rec.clear();
        rec.route = &route;
        rec.method = m;
        rec.status = code;
        rec.start_ns = t;
        t += 1'000'000;
        rec.end_ns = t;
        if (openmetrics) rec.trace_id = routemeter::TraceId{t, t};
        f.binding.record(0, rec);
      }
    }
  }
  size_t bytes = 0;
  const auto format =
      openmetrics ? routemeter::Exposition::kOpenMetrics : routemeter::Exposition::kText;
  for (auto _ : state) {
    std::string text = f.metrics.render(format);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderMetrics)
    ->ArgName("openmetrics")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);

}  // namespace

namespace {

void BM_CollectOnly(benchmark::State& state) {
  Fixture f(2, 50, 10);
  RequestRecord rec;
  uint64_t t = 1'000'000'000;
  const int codes[] = {200, 201, 404, 500, 503};
  for (const auto& route : f.router.routes()) {
    for (int m = 0; m < 4; ++m) {
      for (int code : codes) {
        rec.clear();
        rec.route = &route;
        rec.method = static_cast<routemeter::http::Method>(m);
        rec.status = code;
        rec.start_ns = t;
        t += 1'000'000;
        rec.end_ns = t;
        f.binding.record(0, rec);
      }
    }
  }
  for (auto _ : state) {
    auto families = f.metrics.registry().Collect();
    auto summaries = f.metrics.request_latency->Collect();
    benchmark::DoNotOptimize(families);
    benchmark::DoNotOptimize(summaries);
  }
}
BENCHMARK(BM_CollectOnly)->Unit(benchmark::kMillisecond)->Iterations(10);

}  // namespace
