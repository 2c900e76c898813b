// Exemplars of the request duration histogram (docs/metrics.md, "OpenMetrics
// and exemplars"): for each histogram series and bucket, the trace id of a
// recent request that fell into it, taken from its W3C traceparent header,
// exposed on the bucket's line when /metrics answers in OpenMetrics.
//
// ExemplarSeries: one histogram series' exemplars, a slot per worker and
// bucket. A worker writes only its own slots, lock-free (a sequence lock of
// atomics); a scrape reads every worker's and keeps, per bucket, the one
// that ended last. ExemplarFamily: the series by label set (like
// LatencySummaryFamily), added and removed with their histogram series.
// Thread-safe as stated per member.
#pragma once

#include <prometheus/labels.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "routemeter/request_record.hpp"

namespace routemeter {

struct Exemplar {
  TraceId trace_id;
  double value = 0;     // the request's duration, seconds
  uint64_t end_ns = 0;  // monotonic: when it was recorded
};

class ExemplarSeries {
 public:
  // `bounds`: the histogram's upper bounds (+Inf is added).
  ExemplarSeries(size_t workers, const std::vector<double>& bounds);
  ~ExemplarSeries();
  ExemplarSeries(const ExemplarSeries&) = delete;
  ExemplarSeries& operator=(const ExemplarSeries&) = delete;

  // Worker `worker`'s thread only: the request of `id` took `seconds` and
  // ended at `end_ns`; it becomes its bucket's exemplar for this worker.
  void observe(size_t worker, double seconds, const TraceId& id, uint64_t end_ns);
  // Any thread: per bucket (the bounds, then +Inf), the exemplar that ended
  // last over every worker; nullopt for a bucket without one.
  std::vector<std::optional<Exemplar>> latest() const;
  size_t buckets() const { return bounds_.size() + 1; }

 private:
  struct Slot;
  std::vector<double> bounds_;
  size_t workers_;
  std::unique_ptr<Slot[]> slots_;  // [worker * buckets() + bucket]
};

class ExemplarFamily {
 public:
  ExemplarFamily(size_t workers, std::vector<double> bounds);
  // Thread-safe (a mutex: at config load or a method's first request).
  // Returns the existing series for the same labels, if any.
  ExemplarSeries& add(const prometheus::Labels& labels);
  void remove(const ExemplarSeries& series);  // thread-safe
  // Thread-safe: the series of `labels`, kept alive while held.
  std::shared_ptr<const ExemplarSeries> find(const prometheus::Labels& labels) const;

 private:
  size_t workers_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<prometheus::Labels, std::shared_ptr<ExemplarSeries>> series_;
};

}  // namespace routemeter
