// StatusHistory without sockets: readings made by hand become points
// (deltas, rate, error ratio, histogram_quantile), rows follow set_rows
// (reloads), counter resets, and the JSON of GET /status.json.
#include "routemeter/status_history.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "routemeter/json_value.hpp"

using routemeter::histogram_quantile;
using routemeter::JsonValue;
using routemeter::StatusCounts;
using routemeter::StatusHistory;
using routemeter::StatusReading;
using routemeter::StatusRows;

namespace {

const std::vector<double> kBounds = {0.1, 0.2, 0.4};

StatusCounts counts(double requests, double errors, std::vector<double> buckets) {
  return StatusCounts{requests, errors, std::move(buckets)};
}

StatusReading reading(double a_requests, double a_errors, std::vector<double> a_buckets,
                      double in_flight) {
  StatusReading r;
  r.bounds = kBounds;
  r.routes[{"a", "app"}] = counts(a_requests, a_errors, a_buckets);
  r.upstreams["app"] = counts(a_requests, a_errors, a_buckets);
  r.in_flight["app"] = in_flight;
  return r;
}

const StatusRows kRows{{{"a", "app"}, {"unmatched", "none"}}, {"app"}};

JsonValue parse(const std::string& text) {
  std::string error;
  auto v = JsonValue::parse(text, &error);
  INFO(error << "\n" << text);
  REQUIRE(v.has_value());
  return *v;
}

}  // namespace

TEST_CASE("histogram_quantile interpolates inside the bucket as PromQL does", "[status]") {
  // 10 observations: 4 in (0, 0.1], 4 in (0.1, 0.2], 2 in (0.2, 0.4], none above.
  const std::vector<double> cumulative = {4, 8, 10, 10};
  CHECK(histogram_quantile(0.5, kBounds, cumulative) == Approx(0.125));  // rank 5: 1/4 into b1
  CHECK(histogram_quantile(0.2, kBounds, cumulative) == Approx(0.05));   // rank 2 of 4 in b0
  CHECK(histogram_quantile(0.99, kBounds, cumulative) == Approx(0.39));  // rank 9.9: 0.95 of b2
  // The rank in +Inf: the highest finite bound.
  CHECK(histogram_quantile(0.99, kBounds, {0, 0, 0, 5}) == Approx(0.4));
  CHECK(std::isnan(histogram_quantile(0.5, kBounds, {0, 0, 0, 0})));
  CHECK(std::isnan(histogram_quantile(0.5, kBounds, {})));
}

TEST_CASE("StatusHistory makes one point per tick from the counter deltas", "[status]") {
  StatusHistory h(std::chrono::seconds(10));
  h.set_rows(kRows, reading(100, 10, {50, 90, 100, 100}, 0));
  h.tick(reading(100, 10, {50, 90, 100, 100}, 0), 1000.0, 5.0);  // the baseline
  CHECK(h.points() == 0);
  h.tick(reading(120, 15, {54, 98, 120, 120}, 3), 1010.0, 15.0);
  h.tick(reading(120, 15, {54, 98, 120, 120}, 1), 1020.0, 25.0);
  REQUIRE(h.points() == 2);

  const JsonValue s = parse(h.json(reading(125, 16, {55, 100, 125, 125}, 2), 1021.5));
  CHECK(s["interval_seconds"].number_or(0) == 10);
  CHECK(s["time"].number_or(0) == 1021.5);
  REQUIRE(s["timestamps"].items().size() == 2);
  CHECK(s["timestamps"].items()[0].number_or(0) == 1010);
  const JsonValue& a = s["routes"].items()[0];
  CHECK(a["route"].string() == "a");
  CHECK(a["totals"]["requests"].number_or(0) == 125);
  CHECK(a["totals"]["errors"].number_or(0) == 16);
  CHECK(a["totals"]["error_ratio"].number_or(0) == Approx(16.0 / 125));
  CHECK(a["totals"]["in_flight"].is_null());
  const JsonValue& series = a["series"];
  CHECK(series["requests"].items()[0].number_or(-1) == 20);
  CHECK(series["errors"].items()[0].number_or(-1) == 5);
  CHECK(series["rate"].items()[0].number_or(-1) == Approx(2.0));
  CHECK(series["error_ratio"].items()[0].number_or(-1) == Approx(0.25));
  // Deltas {4, 8, 20, 20}: p50 = rank 10, 2 of 12 into (0.2, 0.4].
  CHECK(series["p50"].items()[0].number_or(-1) == Approx(0.2 + (0.2 * 2 / 12)));
  CHECK(series["p99"].items()[0].number_or(-1) == Approx(0.2 + (0.2 * 11.8 / 12)));
  // An interval without requests: rate 0, no ratio, no quantiles.
  CHECK(series["requests"].items()[1].number_or(-1) == 0);
  CHECK(series["rate"].items()[1].number_or(-1) == 0);
  CHECK(series["error_ratio"].items()[1].is_null());
  CHECK(series["p50"].items()[1].is_null());
  CHECK(a["last"]["requests"].number_or(-1) == 0);
  const JsonValue& app = s["upstreams"].items()[0];
  CHECK(app["upstream"].string() == "app");
  CHECK(app["totals"]["in_flight"].number_or(-1) == 2);
  CHECK(app["series"]["in_flight"].items()[0].number_or(-1) == 3);
  CHECK(app["last"]["in_flight"].number_or(-1) == 1);
  const JsonValue& unmatched = s["routes"].items()[1];
  CHECK(unmatched["route"].string() == "unmatched");
  CHECK(unmatched["totals"]["requests"].number_or(-1) == 0);
}

TEST_CASE("StatusHistory keeps kPoints points", "[status]") {
  StatusHistory h(std::chrono::seconds(10));
  h.set_rows(kRows, reading(0, 0, {}, 0));
  for (int i = 0; i <= 100; ++i) {
    h.tick(reading(i, 0, {}, 0), 1000.0 + i, static_cast<double>(i));
  }
  CHECK(h.points() == StatusHistory::kPoints);
  const JsonValue s = parse(h.json(reading(100, 0, {}, 0), 1100));
  CHECK(s["timestamps"].items().front().number_or(0) == 1011);
  CHECK(s["routes"].items()[0]["series"]["requests"].items().size() == StatusHistory::kPoints);
}

TEST_CASE("StatusHistory rows follow a reload and survive a counter reset", "[status]") {
  StatusHistory h(std::chrono::seconds(10));
  h.set_rows(kRows, reading(10, 0, {}, 0));
  h.tick(reading(10, 0, {}, 0), 1000, 0);
  h.tick(reading(15, 1, {}, 0), 1010, 10);

  // Reload: "a" stays, "b" is new with 7 requests already counted (they
  // belong to no interval yet: the row starts from them).
  StatusReading r = reading(15, 1, {}, 0);
  r.routes[{"b", "app"}] = counts(7, 0, {});
  h.set_rows({{{"a", "app"}, {"b", "app"}, {"unmatched", "none"}}, {"app"}}, r);
  r.routes[{"b", "app"}] = counts(9, 0, {});
  r.routes[{"a", "app"}] = counts(3, 0, {});  // reset: the series was made again
  h.tick(r, 1020, 20);

  const JsonValue s = parse(h.json(r, 1020));
  REQUIRE(s["routes"].items().size() == 3);
  const JsonValue& a = s["routes"].items()[0];
  CHECK(a["series"]["requests"].items()[0].number_or(-1) == 5);
  CHECK(a["series"]["requests"].items()[1].number_or(-1) == 3);  // counted from 0 again
  const JsonValue& b = s["routes"].items()[1];
  CHECK(b["route"].string() == "b");
  CHECK(b["series"]["requests"].items()[0].is_null());  // before the reload
  CHECK(b["series"]["requests"].items()[1].number_or(-1) == 2);

  // A route removed from the config leaves at once.
  h.set_rows({{{"b", "app"}, {"unmatched", "none"}}, {"app"}}, r);
  const JsonValue t = parse(h.json(r, 1021));
  REQUIRE(t["routes"].items().size() == 2);
  CHECK(t["routes"].items()[0]["route"].string() == "b");
}
