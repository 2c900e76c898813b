// Micro-benchmarks of the latency summary (docs/performance.md): one
// LatencySketch::observe() against prometheus-cpp's Summary::Observe() with
// the same quantiles and window (0.5/0.9/0.99, 60 s in 5 buckets), alone and
// with two threads, and the scrape-side cost of Collect() for 1000 series x 2
// workers. Figures: docs/performance.md, section "Latency summary".
#include <benchmark/benchmark.h>
#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>
#include <time.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "routemeter/latency_summary.hpp"

namespace routemeter {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;

// Durations like the demo backend's: uniform 100-600 ms.
const std::vector<double>& samples() {
  static const std::vector<double> values = [] {
    std::mt19937_64 gen(1);
    std::uniform_real_distribution<double> dist(0.1, 0.6);
    std::vector<double> v(4096);
    for (double& x : v) x = dist(gen);
    return v;
  }();
  return values;
}

uint64_t monotonic_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kSecond + static_cast<uint64_t>(ts.tv_nsec);
}

SketchOptions options() {
  SketchOptions o;
  o.relative_error = 0.01;
  o.max_age = std::chrono::seconds(60);
  o.age_buckets = 5;
  return o;
}

// The request path passes the end time it already took; 1 us apart here, so
// the windows rotate as they would at 1M requests/s.
void BM_SketchObserve(benchmark::State& state) {
  LatencySketch sketch(options());  // one per thread, as one per worker
  const auto& v = samples();
  uint64_t now = 1000 * kSecond;
  size_t i = 0;
  for (auto _ : state) {
    sketch.observe(v[i++ & 4095], now);
    now += 1000;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SketchObserve)->Threads(1)->Threads(2);

// The same with a clock_gettime(CLOCK_MONOTONIC) per observation.
void BM_SketchObserveWithClock(benchmark::State& state) {
  LatencySketch sketch(options());
  const auto& v = samples();
  size_t i = 0;
  for (auto _ : state) sketch.observe(v[i++ & 4095], monotonic_now());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SketchObserveWithClock);

prometheus::Summary& shared_summary() {
  static prometheus::Summary summary(
      prometheus::Summary::Quantiles{{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}},
      std::chrono::seconds(60), 5);
  return summary;
}

// Two threads share one Summary (one series hit by every worker).
void BM_PrometheusSummaryObserve(benchmark::State& state) {
  prometheus::Summary& summary = shared_summary();
  const auto& v = samples();
  size_t i = static_cast<size_t>(state.thread_index()) * 1000;
  for (auto _ : state) summary.Observe(v[i++ & 4095]);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrometheusSummaryObserve)->Threads(1)->Threads(2);

// 1000 series x 2 workers, each sketch holding 1000 observations spread over
// the 5 windows; `range(0)` = 1: also serialise the text.
void BM_Collect(benchmark::State& state) {
  MetricsConfig config;
  LatencySummaryFamily family("routemeter_request_latency_seconds", "help", config, 2);
  const auto& v = samples();
  const uint64_t now = 1000 * kSecond;
  size_t k = 0;
  for (int s = 0; s < 1000; ++s) {
    auto& series = family.add({{"upstream", "u" + std::to_string(s % 10)},
                               {"route", "r" + std::to_string(s)},
                               {"method", "GET"}});
    for (size_t w = 0; w < 2; ++w) {
      for (uint64_t i = 0; i < 1000; ++i) series.observe(w, v[k++ & 4095], now - i * 59'000'000);
    }
  }
  prometheus::TextSerializer serializer;
  size_t bytes = 0;
  for (auto _ : state) {
    auto families = family.collect_at(now);
    if (state.range(0) == 1) bytes = serializer.Serialize(families).size();
    benchmark::DoNotOptimize(families);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Collect)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace routemeter
