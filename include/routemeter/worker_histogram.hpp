// Histograms written by the workers without sharing a cache line or a lock:
// each series keeps one block of bucket counts and a nanosecond sum per
// worker, and Collect() adds them up at scrape time. prometheus-cpp's
// Histogram takes a mutex per Observe(), which two workers sharing a series
// (one per upstream) contend on; this one costs a bucket scan and two
// relaxed stores (docs/performance.md, "Metrics on the request path").
//
// WorkerHistogramFamily: one histogram metric family (a
// prometheus::Collectable). Series are added and removed at config load
// (thread-safe, a mutex); each worker observes only through its own index;
// any thread may collect concurrently (relaxed atomics: a scrape sees each
// observation's bucket and sum either before or after it, not necessarily
// both).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/labels.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace routemeter {

class WorkerHistogramFamily : public prometheus::Collectable {
 public:
  // `bounds`: bucket upper bounds in seconds, strictly increasing (+Inf is
  // added). `workers`: how many writers each series has.
  WorkerHistogramFamily(std::string name, std::string help, std::vector<double> bounds,
                        size_t workers);
  ~WorkerHistogramFamily() override;

  class Series {
   public:
    Series(prometheus::Labels labels, const std::vector<uint64_t>& bounds_ns, size_t workers);
    // Worker `worker`'s thread only: one observation of `ns` nanoseconds.
    void observe(size_t worker, uint64_t ns) {
      Slot& slot = slots_[worker];
      size_t i = 0;
      while (i < bounds_ns_.size() && ns > bounds_ns_[i]) ++i;
      auto& count = slot.counts[i];
      count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      slot.sum_ns.store(slot.sum_ns.load(std::memory_order_relaxed) + ns,
                        std::memory_order_relaxed);
    }
    const prometheus::Labels& labels() const { return labels_; }

   private:
    friend class WorkerHistogramFamily;
    struct alignas(64) Slot {
      std::unique_ptr<std::atomic<uint64_t>[]> counts;  // bounds + 1 (the last: +Inf)
      std::atomic<uint64_t> sum_ns{0};
    };
    prometheus::Labels labels_;
    const std::vector<uint64_t>& bounds_ns_;  // the family's, which outlives its series
    std::unique_ptr<Slot[]> slots_;
  };

  // Thread-safe (a mutex; at config load, never per request). Returns the
  // existing series for the same labels, if any.
  Series& add(const prometheus::Labels& labels);
  // Thread-safe: drops a series (once no worker can observe it any more).
  void remove(const Series& series);
  // prometheus::Collectable: one histogram family, all workers added up.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string name_;
  std::string help_;
  std::vector<double> bounds_;
  std::vector<uint64_t> bounds_ns_;
  size_t workers_;
  mutable std::mutex mu_;
  // shared_ptr: Collect() copies the list under mu_ and reads without it.
  std::vector<std::shared_ptr<Series>> series_;  // insertion order
  std::map<prometheus::Labels, Series*> index_;
};

}  // namespace routemeter
