// LatencySummaryFamily: series management, Collect() output (names, labels,
// quantiles, exact _count/_sum), the text exposition, and a scrape racing a
// writer (run under TSan too).
#include <prometheus/text_serializer.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "routemeter/latency_summary.hpp"

namespace routemeter {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr double kError = 0.01;

MetricsConfig config(std::vector<SummaryQuantile> quantiles = {
                         {0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}}) {
  MetricsConfig c;
  c.summary_quantiles = std::move(quantiles);
  c.summary_max_age = std::chrono::seconds(60);
  c.summary_age_buckets = 5;
  return c;
}

std::vector<std::pair<std::string, std::string>> labels_of(const prometheus::ClientMetric& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& l : m.label) out.emplace_back(l.name, l.value);
  return out;
}

}  // namespace

TEST_CASE("add() returns the same series for the same labels", "[summary]") {
  LatencySummaryFamily f("x_latency_seconds", "help", config(), 2);
  auto& a = f.add({{"route", "a"}, {"method", "GET"}});
  auto& a2 = f.add({{"method", "GET"}, {"route", "a"}});
  auto& b = f.add({{"route", "b"}, {"method", "GET"}});
  CHECK(&a == &a2);
  CHECK(&a != &b);
  CHECK(f.series_count() == 2);
  CHECK(a.labels() == prometheus::Labels{{"method", "GET"}, {"route", "a"}});
}

TEST_CASE("Collect() emits one summary family with every series in insertion order", "[summary]") {
  LatencySummaryFamily f("routemeter_request_latency_seconds", "Request durations.", config(), 2);
  auto& b = f.add({{"upstream", "shop"}, {"route", "b"}, {"method", "GET"}});
  auto& a = f.add({{"upstream", "car"}, {"route", "a"}, {"method", "POST"}});
  // Worker 0 and worker 1 both serve route b; exactly representable values.
  for (int i = 0; i < 50; ++i) b.observe(0, 0.125, 100 * kSecond);
  for (int i = 0; i < 50; ++i) b.observe(1, 0.5, 100 * kSecond);
  a.observe(1, 2.0, 100 * kSecond);

  const auto families = f.collect_at(101 * kSecond);
  REQUIRE(families.size() == 1);
  const prometheus::MetricFamily& fam = families[0];
  CHECK(fam.name == "routemeter_request_latency_seconds");
  CHECK(fam.help == "Request durations.");
  CHECK(fam.type == prometheus::MetricType::Summary);
  REQUIRE(fam.metric.size() == 2);

  const auto& mb = fam.metric[0];
  CHECK(labels_of(mb) == std::vector<std::pair<std::string, std::string>>{
                             {"method", "GET"}, {"route", "b"}, {"upstream", "shop"}});
  CHECK(mb.summary.sample_count == 100);
  CHECK(mb.summary.sample_sum == 31.25);
  REQUIRE(mb.summary.quantile.size() == 3);
  CHECK(mb.summary.quantile[0].quantile == 0.5);
  CHECK(mb.summary.quantile[1].quantile == 0.9);
  CHECK(mb.summary.quantile[2].quantile == 0.99);
  CHECK(mb.summary.quantile[0].value == Approx(0.125).epsilon(kError));  // rank 50
  CHECK(mb.summary.quantile[1].value == Approx(0.5).epsilon(kError));
  CHECK(mb.summary.quantile[2].value == Approx(0.5).epsilon(kError));

  const auto& ma = fam.metric[1];
  CHECK(labels_of(ma) == std::vector<std::pair<std::string, std::string>>{
                             {"method", "POST"}, {"route", "a"}, {"upstream", "car"}});
  CHECK(ma.summary.sample_count == 1);
  CHECK(ma.summary.sample_sum == 2.0);
  for (const auto& q : ma.summary.quantile) CHECK(q.value == Approx(2.0).epsilon(kError));
}

TEST_CASE("a series without observations in max_age has NaN quantiles and keeps count and sum",
          "[summary]") {
  LatencySummaryFamily f("x_seconds", "h", config({{0.5, 0.05}}), 1);
  auto& s = f.add({{"route", "a"}});
  f.add({{"route", "idle"}});
  s.observe(0, 0.25, 100 * kSecond);
  s.observe(0, 0.75, 100 * kSecond);

  // 12 s windows; the observations are in epoch 8 (96-108 s). At 150 s
  // (epoch 12) the last 5 windows are epochs 8..12: still counted.
  auto fam = f.collect_at(150 * kSecond).at(0);
  CHECK(fam.metric.at(0).summary.quantile.at(0).value == Approx(0.25).epsilon(kError));
  CHECK(std::isnan(fam.metric.at(1).summary.quantile.at(0).value));
  CHECK(fam.metric.at(1).summary.sample_count == 0);

  // At 156 s (epoch 13) epoch 8 has left: 56 s old observations are gone
  // (a window covers between 48 and 60 s, as in prometheus-cpp).
  fam = f.collect_at(156 * kSecond).at(0);
  CHECK(std::isnan(fam.metric.at(0).summary.quantile.at(0).value));
  CHECK(fam.metric.at(0).summary.sample_count == 2);
  CHECK(fam.metric.at(0).summary.sample_sum == 1.0);
}

TEST_CASE("remove() drops a series; no series means no family", "[summary]") {
  LatencySummaryFamily f("x_seconds", "h", config(), 2);
  auto& a = f.add({{"route", "a"}});
  auto& b = f.add({{"route", "b"}});
  a.observe(0, 0.1, kSecond);
  f.remove(a);
  CHECK(f.series_count() == 1);
  auto families = f.collect_at(kSecond);
  REQUIRE(families.size() == 1);
  REQUIRE(families[0].metric.size() == 1);
  CHECK(families[0].metric[0].label.at(0).value == "b");

  // Adding the removed labels again gives a fresh series.
  auto& a2 = f.add({{"route", "a"}});
  CHECK(f.collect_at(kSecond).at(0).metric.at(1).summary.sample_count == 0);
  f.remove(a2);
  f.remove(b);
  f.remove(b);  // already gone: no effect
  CHECK(f.series_count() == 0);
  CHECK(f.collect_at(kSecond).empty());
  CHECK(f.Collect().empty());
}

TEST_CASE("the family serialises as a Prometheus summary", "[summary]") {
  LatencySummaryFamily f("routemeter_request_latency_seconds", "Request durations.",
                         config({{0.5, 0.05}, {0.9, 0.01}}), 2);
  auto& a = f.add({{"route", "a"}});
  f.add({{"route", "b"}});
  a.observe(0, 0.25, 10 * kSecond);
  a.observe(1, 0.25, 10 * kSecond);
  a.observe(1, 1.0, 10 * kSecond);

  prometheus::TextSerializer serializer;
  const std::string text = serializer.Serialize(f.collect_at(11 * kSecond));
  // _count and _sum come first (prometheus-cpp's order). 0.25 lands in the
  // bucket reporting 0.24905..., 1.0 sits exactly on a bucket's upper bound
  // and reports 1 - a = 0.99: both within a = 1%.
  CHECK(text ==
        "# HELP routemeter_request_latency_seconds Request durations.\n"
        "# TYPE routemeter_request_latency_seconds summary\n"
        "routemeter_request_latency_seconds_count{route=\"a\"} 3\n"
        "routemeter_request_latency_seconds_sum{route=\"a\"} 1.5\n"
        "routemeter_request_latency_seconds{route=\"a\",quantile=\"0.5\"} 0.2490513102179278\n"
        "routemeter_request_latency_seconds{route=\"a\",quantile=\"0.9\"} 0.9900000000000001\n"
        "routemeter_request_latency_seconds_count{route=\"b\"} 0\n"
        "routemeter_request_latency_seconds_sum{route=\"b\"} 0\n"
        "routemeter_request_latency_seconds{route=\"b\",quantile=\"0.5\"} Nan\n"
        "routemeter_request_latency_seconds{route=\"b\",quantile=\"0.9\"} Nan\n");
}

TEST_CASE("Collect() while a worker observes sees consistent counts", "[summary]") {
  // Short windows (1 s / 5) so the writer rotates windows while the reader
  // merges them. Synthetic time: 1 ms per observation.
  MetricsConfig c = config();
  c.summary_max_age = std::chrono::seconds(1);
  LatencySummaryFamily f("x_seconds", "h", c, 2);
  auto& s = f.add({{"route", "a"}});
  constexpr int kObservations = 200000;
  std::atomic<uint64_t> now{1000 * kSecond};
  std::atomic<bool> done{false};
  std::atomic<bool> reading{false};
  std::thread writer([&] {
    for (int spin = 0; spin < 10'000'000 && !reading.load(); ++spin) std::this_thread::yield();
    for (int i = 0; i < kObservations; ++i) {
      const uint64_t t = 1000 * kSecond + static_cast<uint64_t>(i) * 1'000'000;
      s.observe(0, i % 2 == 0 ? 0.01 : 0.1, t);
      now.store(t, std::memory_order_relaxed);
    }
    done.store(true);
  });
  uint64_t last_count = 0;
  int scrapes = 0;
  reading.store(true);
  for (; scrapes < 100000 && !done.load(); ++scrapes) {
    if (scrapes % 8 == 7) f.add({{"route", "r" + std::to_string(scrapes % 5)}});
    const auto families = f.collect_at(now.load(std::memory_order_relaxed));
    const auto& m = families.at(0).metric.at(0).summary;
    REQUIRE(m.sample_count >= last_count);
    last_count = m.sample_count;
    for (const auto& q : m.quantile) {
      if (std::isnan(q.value)) continue;
      REQUIRE(q.value >= 0.01 * (1 - kError));
      REQUIRE(q.value <= 0.1 * (1 + kError));
    }
  }
  writer.join();
  INFO("scrapes during the writer: " << scrapes);
  const auto m = f.collect_at(now.load()).at(0).metric.at(0).summary;
  CHECK(m.sample_count == kObservations);
  CHECK(m.sample_sum == Approx(kObservations / 2 * 0.11).epsilon(1e-9));
  // The last 1 s holds 800-1000 observations (4 or 5 windows of 200 ms).
  CHECK(m.quantile.at(0).value == Approx(0.01).epsilon(kError));
  CHECK(m.quantile.at(1).value == Approx(0.1).epsilon(kError));
}

}  // namespace routemeter
