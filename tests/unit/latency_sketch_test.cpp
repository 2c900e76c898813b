// LatencySketch: bucket layout, quantile ranks, accuracy against exact
// quantiles, merging across workers, and the age windows.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "routemeter/latency_summary.hpp"

namespace routemeter {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr double kError = 0.01;

SketchOptions options(std::chrono::milliseconds max_age = std::chrono::seconds(60),
                      uint32_t age_buckets = 5) {
  SketchOptions o;
  o.relative_error = kError;
  o.max_age = max_age;
  o.age_buckets = age_buckets;
  return o;
}

std::vector<uint64_t> merged(const LatencySketch& s, uint64_t now_ns, uint64_t* total = nullptr) {
  std::vector<uint64_t> counts;
  const uint64_t n = s.merge_into(counts, now_ns);
  if (total != nullptr) *total = n;
  return counts;
}

// The exact quantile: the value at rank ceil(q * N) of the sorted values.
double exact_quantile(const std::vector<double>& sorted, double q) {
  const auto rank =
      std::max<size_t>(1, static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()))));
  return sorted[rank - 1];
}

}  // namespace

TEST_CASE("a sketch with a=0.01 over 1us..10000s has 1152 buckets", "[summary]") {
  LatencySketch s(options());
  CHECK(s.bucket_count() == 1152);
}

TEST_CASE("each bucket holds the values its reported value is within a of", "[summary]") {
  // Bucket i covers (gamma^(k-1), gamma^k] and reports 2*gamma^k/(gamma+1).
  // Observe a value just inside each end of every inner bucket: each bucket
  // must count exactly 2, and its value must be within a of both.
  LatencySketch s(options());
  const double gamma = (1 + kError) / (1 - kError);
  for (size_t i = 1; i + 1 < s.bucket_count(); ++i) {
    const double upper = s.bucket_value(i) * (gamma + 1) / 2;
    const double lower = upper / gamma;
    REQUIRE(std::abs(s.bucket_value(i) - upper) <= kError * upper * (1 + 1e-9));
    REQUIRE(std::abs(s.bucket_value(i) - lower) <= kError * lower * (1 + 1e-9));
    REQUIRE(s.bucket_value(i + 1) / s.bucket_value(i) == Approx(gamma).epsilon(1e-12));
    s.observe(upper * (1 - 1e-9), kSecond);
    s.observe(lower * (1 + 1e-9), kSecond);
  }
  const std::vector<uint64_t> counts = merged(s, kSecond);
  for (size_t i = 1; i + 1 < s.bucket_count(); ++i) {
    INFO("bucket " << i);
    REQUIRE(counts[i] == 2);
  }
  CHECK(counts[0] == 0);
  CHECK(counts[s.bucket_count() - 1] == 0);
}

TEST_CASE("out of range, zero, negative and NaN values land in the end buckets", "[summary]") {
  LatencySketch s(options());
  s.observe(1e-9, kSecond);          // below min_value
  s.observe(0, kSecond);             // zero
  s.observe(-1, kSecond);            // negative: bucket 0, not added to the sum
  s.observe(std::nan(""), kSecond);  // NaN: bucket 0, not added to the sum
  s.observe(1e6, kSecond);           // above max_value
  uint64_t total = 0;
  const std::vector<uint64_t> counts = merged(s, kSecond, &total);
  CHECK(total == 5);
  CHECK(counts[0] == 4);
  CHECK(counts[s.bucket_count() - 1] == 1);
  CHECK(s.total_count() == 5);
  CHECK(s.total_sum() == 1e6 + 1e-9);
}

TEST_CASE("quantile() returns the bucket holding rank ceil(q * total)", "[summary]") {
  LatencySketch s(options());
  std::vector<uint64_t> counts(s.bucket_count(), 0);
  counts[10] = 1;
  counts[500] = 2;
  counts[900] = 1;
  struct Row {
    double q;
    size_t bucket;
  };
  const Row rows[] = {{0, 10},     {0.1, 10},   {0.25, 10}, {0.26, 500}, {0.5, 500}, {0.75, 500},
                      {0.76, 900}, {0.99, 900}, {1, 900},   {1.5, 900},  {-0.5, 10}};
  for (const Row& r : rows) {
    INFO("q=" << r.q);
    CHECK(s.quantile(counts, 4, r.q) == s.bucket_value(r.bucket));
  }
  CHECK(std::isnan(s.quantile(counts, 0, 0.5)));
}

TEST_CASE("estimated quantiles are within a relative error a of the exact ones", "[summary]") {
  struct Distribution {
    const char* name;
    std::function<double(std::mt19937_64&)> draw;
  };
  const std::vector<Distribution> distributions = {
      {"uniform 0.1-0.6s (demo backend)",
       [](std::mt19937_64& g) { return std::uniform_real_distribution<double>(0.1, 0.6)(g); }},
      {"log-normal around 5ms",
       [](std::mt19937_64& g) {
         return std::lognormal_distribution<double>(std::log(0.005), 1.0)(g);
       }},
      {"bimodal 2ms / 300ms",
       [](std::mt19937_64& g) {
         if (std::bernoulli_distribution(0.8)(g)) {
           return std::normal_distribution<double>(0.002, 0.0003)(g);
         }
         return std::normal_distribution<double>(0.3, 0.05)(g);
       }},
      {"exponential mean 50ms",
       [](std::mt19937_64& g) { return std::exponential_distribution<double>(20)(g); }},
      {"constant 0.25s", [](std::mt19937_64&) { return 0.25; }},
  };
  const size_t sizes[] = {1, 7, 1000, 100000};
  for (const Distribution& d : distributions) {
    for (size_t n : sizes) {
      std::mt19937_64 gen(42);
      LatencySketch s(options());
      std::vector<double> values;
      for (size_t i = 0; i < n; ++i) {
        double v = d.draw(gen);
        if (v < 1e-5) v = 1e-5;  // stay inside [min_value, max_value]
        values.push_back(v);
        s.observe(v, 10 * kSecond);
      }
      std::sort(values.begin(), values.end());
      uint64_t total = 0;
      const std::vector<uint64_t> counts = merged(s, 10 * kSecond, &total);
      REQUIRE(total == n);
      for (double q : {0.5, 0.9, 0.99, 0.999}) {
        const double exact = exact_quantile(values, q);
        const double estimate = s.quantile(counts, total, q);
        INFO(d.name << " n=" << n << " q=" << q << " exact=" << exact << " estimate=" << estimate);
        REQUIRE(std::abs(estimate - exact) <= kError * exact * (1 + 1e-9));
      }
    }
  }
}

TEST_CASE("merging 2-4 worker sketches equals one sketch fed all values", "[summary]") {
  for (size_t workers : {2, 3, 4}) {
    std::mt19937_64 gen(7 + workers);
    std::lognormal_distribution<double> dist(std::log(0.02), 1.5);
    LatencySketch all(options());
    std::vector<std::unique_ptr<LatencySketch>> parts;
    for (size_t w = 0; w < workers; ++w)
      parts.push_back(std::make_unique<LatencySketch>(options()));
    double sum = 0;
    for (int i = 0; i < 20000; ++i) {
      const double v = dist(gen);
      // Spread over three 12 s windows, all within the 60 s max_age.
      const uint64_t now = (100 + static_cast<uint64_t>(i % 30)) * kSecond;
      all.observe(v, now);
      parts[static_cast<size_t>(i) % workers]->observe(v, now);
      sum += v;
    }
    const uint64_t now = 130 * kSecond;
    uint64_t total_all = 0;
    const std::vector<uint64_t> expected = merged(all, now, &total_all);
    std::vector<uint64_t> counts;
    uint64_t total = 0;
    uint64_t count = 0;
    double part_sum = 0;
    for (const auto& p : parts) {
      total += p->merge_into(counts, now);
      count += p->total_count();
      part_sum += p->total_sum();
    }
    INFO("workers=" << workers);
    CHECK(total_all == 20000);
    CHECK(total == 20000);
    CHECK(count == 20000);
    CHECK(counts == expected);
    CHECK(part_sum == Approx(sum).epsilon(1e-12));
    for (double q : {0.5, 0.9, 0.99}) {
      CHECK(all.quantile(counts, total, q) == all.quantile(expected, total_all, q));
    }
  }
}

TEST_CASE("observations older than max_age leave the quantiles but not count and sum",
          "[summary]") {
  // max_age 60 s in 5 windows of 12 s.
  constexpr uint64_t kWindow = 12 * kSecond;
  LatencySketch s(options());
  for (int i = 0; i < 100; ++i) s.observe(0.125, 10 * kWindow + 1);  // epoch 10
  for (int i = 0; i < 100; ++i) s.observe(1.0, 12 * kWindow);        // epoch 12

  uint64_t total = 0;
  std::vector<uint64_t> counts = merged(s, 14 * kWindow + kWindow - 1, &total);  // epochs 10..14
  CHECK(total == 200);
  CHECK(s.quantile(counts, total, 0.5) == Approx(0.125).epsilon(kError));
  CHECK(s.quantile(counts, total, 0.51) == Approx(1.0).epsilon(kError));

  counts = merged(s, 15 * kWindow, &total);  // epochs 11..15: the 0.125s are gone
  CHECK(total == 100);
  CHECK(s.quantile(counts, total, 0.01) == Approx(1.0).epsilon(kError));

  counts = merged(s, 17 * kWindow, &total);  // epochs 13..17: nothing left
  CHECK(total == 0);
  CHECK(std::isnan(s.quantile(counts, total, 0.5)));

  CHECK(s.total_count() == 200);
  CHECK(s.total_sum() == 112.5);
}

TEST_CASE("a window reused after max_age starts from zero", "[summary]") {
  constexpr uint64_t kWindow = 12 * kSecond;
  LatencySketch s(options());
  for (int i = 0; i < 50; ++i) s.observe(0.001, 10 * kWindow);  // epoch 10, slot 0
  for (int i = 0; i < 3; ++i) s.observe(2.0, 15 * kWindow);     // epoch 15, slot 0 again
  s.observe(0.5, 15 * kWindow + 5);

  uint64_t total = 0;
  const std::vector<uint64_t> counts = merged(s, 15 * kWindow, &total);
  CHECK(total == 4);
  size_t nonzero = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    ++nonzero;
    const double v = s.bucket_value(i);
    if (v > 1) {
      CHECK(counts[i] == 3);
      CHECK(v == Approx(2.0).epsilon(kError));
    } else {
      CHECK(counts[i] == 1);
      CHECK(v == Approx(0.5).epsilon(kError));
    }
  }
  CHECK(nonzero == 2);
  CHECK(s.quantile(counts, total, 0.25) == Approx(0.5).epsilon(kError));
  CHECK(s.total_count() == 54);
}

TEST_CASE("a sketch that never observed merges nothing", "[summary]") {
  LatencySketch s(options());
  uint64_t total = 7;
  const std::vector<uint64_t> counts = merged(s, 5 * kSecond, &total);
  CHECK(total == 0);
  CHECK(counts.size() == s.bucket_count());
  CHECK(std::count(counts.begin(), counts.end(), 0u) == static_cast<long>(counts.size()));
  CHECK(s.total_count() == 0);
  CHECK(s.total_sum() == 0);
}

}  // namespace routemeter
