// Latency summaries without prometheus-cpp's Summary on the request path
// (docs/performance.md, "Baseline": its CKMS costs 4.6-7 us per observation
// and slows down when threads share it).
//
// LatencySketch: a log-linear histogram with a bounded relative error
// (DDSketch-style: bucket i covers (gamma^(i-1), gamma^i], gamma = (1+a)/(1-a),
// and reports 2*gamma^i/(gamma+1), so any quantile is within a relative error
// `a` of an observed value at the right rank), kept in `age_buckets` windows
// that rotate every max_age/age_buckets, like prometheus-cpp's TimeWindowQuantiles.
// One writer thread (its worker) observes; any thread may read concurrently
// (relaxed atomics: a scrape sees each count either before or after an update).
//
// LatencySummaryFamily: the summary metric family `<ns>_request_latency_seconds`:
// series (label sets) with one sketch per worker each, merged at scrape time by
// collect() (prometheus::Collectable) into quantiles, _sum and _count.
// _sum and _count are exact totals since the series was created; the quantiles
// cover the last max_age. The error of each configured quantile (a CKMS rank
// error) is not used: every quantile has the sketch's relative value error
// instead (1 %). Memory: workers x age_buckets x 1152 x 4 bytes per series
// once observed (22.5 KiB per worker by default), ~0.5 KiB per worker before.
// Details: docs/metrics.md, "Summary quantiles: accuracy".
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/labels.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "routemeter/config.hpp"

namespace routemeter {

struct SketchOptions {
  double relative_error = 0.01;  // a
  double min_value = 1e-6;       // seconds; smaller values count in the first bucket
  double max_value = 1e4;        // seconds; larger values count in the last bucket
  Duration max_age = std::chrono::seconds(60);
  uint32_t age_buckets = 5;
};

class LatencySketch {
 public:
  explicit LatencySketch(const SketchOptions& options);
  ~LatencySketch();
  LatencySketch(const LatencySketch&) = delete;
  LatencySketch& operator=(const LatencySketch&) = delete;

  // Writer thread only. `now_ns`: a monotonic clock reading (nanoseconds).
  void observe(double seconds, uint64_t now_ns);

  // Any thread: adds the counts of the windows still inside max_age at
  // `now_ns` into `counts` (resized to bucket_count() if smaller), and
  // returns how many observations that is.
  uint64_t merge_into(std::vector<uint64_t>& counts, uint64_t now_ns) const;
  uint64_t total_count() const;  // since creation (exact)
  double total_sum() const;      // since creation

  size_t bucket_count() const { return buckets_; }
  // The value a bucket reports for quantiles.
  double bucket_value(size_t index) const;
  // Quantile `q` of merged counts: the reported value of the bucket holding
  // rank ceil(q * total) (1-based). NaN when total is 0.
  double quantile(const std::vector<uint64_t>& counts, uint64_t total, double q) const;

 private:
  struct Window;
  size_t bucket_index(double seconds) const;
  SketchOptions options_;
  double gamma_;
  double log_gamma_;
  double inv_log_gamma_;     // 1 / log_gamma_ (a multiply on the hot path, not a divide)
  double min_index_offset_;  // ceil(log_gamma(min_value)): the gamma exponent of bucket 0
  size_t buckets_;
  uint64_t window_ns_;
  std::unique_ptr<Window[]> windows_;  // age_buckets entries, allocated up front (small)
  // age_buckets * buckets_ counts, allocated by the writer on its first
  // observe() and published with release (readers acquire): a series that
  // never sees traffic costs no count memory.
  std::atomic<std::atomic<uint32_t>*> counts_{nullptr};
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

class LatencySummaryFamily : public prometheus::Collectable {
 public:
  // `name`: full metric name (e.g. "routemeter_request_latency_seconds").
  LatencySummaryFamily(std::string name, std::string help, const MetricsConfig& config,
                       size_t workers);
  ~LatencySummaryFamily() override;

  // One labelled series; `sketch(worker)` is that worker's writer side.
  class Series {
   public:
    Series(prometheus::Labels labels, const SketchOptions& options, size_t workers);
    LatencySketch& sketch(size_t worker) { return *sketches_[worker]; }
    const prometheus::Labels& labels() const { return labels_; }
    // Worker thread: record one observation.
    void observe(size_t worker, double seconds, uint64_t now_ns) {
      sketches_[worker]->observe(seconds, now_ns);
    }

   private:
    friend class LatencySummaryFamily;
    prometheus::Labels labels_;
    std::vector<std::unique_ptr<LatencySketch>> sketches_;
  };

  // Thread-safe (takes a mutex; call at config load, never per request).
  // Returns the existing series for the same labels, if any.
  Series& add(const prometheus::Labels& labels);
  // Thread-safe: drop a series (after no worker can observe it any more).
  void remove(const Series& series);

  // prometheus::Collectable: one summary family, quantiles from the merged
  // sketches of all workers. Thread-safe.
  std::vector<prometheus::MetricFamily> Collect() const override;
  // Collect() with the window position taken from `now_ns` (a monotonic
  // clock reading) instead of CLOCK_MONOTONIC: for tests.
  std::vector<prometheus::MetricFamily> collect_at(uint64_t now_ns) const;
  size_t series_count() const;

 private:
  std::string name_;
  std::string help_;
  std::vector<SummaryQuantile> quantiles_;
  SketchOptions options_;
  size_t workers_;
  mutable std::mutex mu_;
  // shared_ptr: Collect() copies the list under mu_ and merges without it,
  // so a worker adding a series never waits for a scrape.
  std::vector<std::shared_ptr<Series>> series_;  // insertion order
  std::map<prometheus::Labels, Series*> index_;
};

}  // namespace routemeter
