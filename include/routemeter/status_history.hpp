// The data behind GET /status and GET /status.json (docs/status.md).
//
// StatusReading: one reading of what the workers already record, summed per
// route and per upstream: requests_total (all, and 5xx), the
// request_duration_seconds buckets, requests_in_flight. Taken on the admin
// side by collecting those three families; nothing is added to the request
// path.
//
// StatusHistory: every [admin] status_interval (10 s) a new reading becomes
// one point per route and per upstream (the deltas from the previous one):
// requests, 5xx, rate, error ratio, p50 and p99 interpolated in the
// histogram's buckets as PromQL's histogram_quantile does, and the in-flight
// gauge; the last kPoints points are kept. An upstream's point is the sum of
// its routes' (so a route removed by a reload is not counted as traffic). The rows follow the
// config: a reload adds rows (from zero) and drops the rows of removed routes and upstreams at the
// next tick. Not thread-safe: the Server uses it on the main thread only (its timer and the admin
// handlers).
#pragma once

#include <prometheus/metric_family.h>

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "routemeter/config.hpp"

namespace routemeter {

class Metrics;

struct StatusCounts {
  double requests = 0;
  double errors = 0;  // 5xx (a code label starting with '5', "5xx" included)
  // Cumulative counts per histogram bucket, the last one +Inf (empty until a
  // duration was recorded).
  std::vector<double> buckets;
};

struct StatusReading {
  std::map<std::pair<std::string, std::string>, StatusCounts> routes;  // (route, upstream)
  std::map<std::string, StatusCounts> upstreams;
  std::map<std::string, double> in_flight;  // per upstream
  std::vector<double> bounds;               // the buckets' finite upper bounds

  // Adds one collected family to the sums (by its type: a counter is
  // requests_total, a histogram request_duration_seconds, a gauge
  // requests_in_flight).
  void add(const prometheus::MetricFamily& family);
};

// Collects the three families from `metrics` (thread-safe, as a scrape).
StatusReading read_status(Metrics& metrics);

// PromQL's histogram_quantile over `cumulative` bucket counts (the last +Inf) with finite upper
// `bounds`: linear interpolation inside the bucket holding rank q * count, from 0 for the first
// bucket; the highest finite bound when the rank falls in +Inf. NaN when the count is 0.
double histogram_quantile(double q, const std::vector<double>& bounds,
                          const std::vector<double>& cumulative);

// Which rows the history keeps: the config's routes (and "unmatched") and
// upstreams, in config order.
struct StatusRows {
  std::vector<std::pair<std::string, std::string>> routes;  // (route, upstream)
  std::vector<std::string> upstreams;
};
StatusRows status_rows(const Config& config);

class StatusHistory {
 public:
  static constexpr size_t kPoints = 90;

  explicit StatusHistory(Duration interval) : interval_(interval) {}

  // The rows to keep (at start and after each reload): rows already known
  // keep their history; a new row starts from `reading` (its counters are
  // new, or were counted before the row was shown); rows not in `rows` go.
  void set_rows(const StatusRows& rows, const StatusReading& reading);
  // One tick: `reading` taken at wall-clock `unix_s`, monotonic `mono_s`
  // (seconds), makes one point per row. The first tick only sets the baseline.
  void tick(const StatusReading& reading, double unix_s, double mono_s);

  // The JSON of GET /status.json: the points, and the totals of `now` (a
  // reading taken for this answer) at wall-clock `unix_s`.
  std::string json(const StatusReading& now, double unix_s) const;

  size_t points() const { return times_.size(); }

 private:
  struct Point {
    double requests = 0;
    double errors = 0;
    double p50 = 0;  // NaN: no request in the interval
    double p99 = 0;
    double in_flight = 0;  // NaN for routes (the gauge is per upstream)
  };
  struct Row {
    std::string route;  // empty for an upstream row
    std::string upstream;
    StatusCounts last;         // the previous reading (zero for a new row)
    std::deque<Point> points;  // the newest last; may be shorter than times_
  };

  // The counts since the row's last reading (a counter that went down was
  // reset: all of it); sets the row's last reading to `now`.
  static StatusCounts take_delta(Row& row, const StatusCounts& now);
  static void push_point(Row& row, const StatusCounts& delta, double in_flight,
                         const std::vector<double>& bounds);
  void append_row(std::string& out, const Row& row, const StatusCounts& totals,
                  double in_flight_now) const;

  Duration interval_;
  bool started_ = false;
  double last_mono_ = 0;
  std::deque<double> times_;    // wall-clock end of each point
  std::deque<double> seconds_;  // length of each point
  std::vector<Row> routes_;
  std::vector<Row> upstreams_;
};

}  // namespace routemeter
