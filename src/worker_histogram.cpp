#include "routemeter/worker_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace routemeter {

WorkerHistogramFamily::Series::Series(prometheus::Labels labels,
                                      const std::vector<uint64_t>& bounds_ns, size_t workers)
    : labels_(std::move(labels)), bounds_ns_(bounds_ns), slots_(std::make_unique<Slot[]>(workers)) {
  for (size_t w = 0; w < workers; ++w) {
    slots_[w].counts = std::make_unique<std::atomic<uint64_t>[]>(bounds_ns.size() + 1);
    for (size_t i = 0; i <= bounds_ns.size(); ++i) slots_[w].counts[i].store(0);
  }
}

WorkerHistogramFamily::WorkerHistogramFamily(std::string name, std::string help,
                                             std::vector<double> bounds, size_t workers)
    : name_(std::move(name)),
      help_(std::move(help)),
      bounds_(std::move(bounds)),
      workers_(std::max<size_t>(workers, 1)) {
  // An observation of v ns counts in the first bucket whose bound is >= v
  // (`le` is inclusive), bounds rounded to whole nanoseconds.
  for (double b : bounds_) bounds_ns_.push_back(static_cast<uint64_t>(std::llround(b * 1e9)));
}

WorkerHistogramFamily::~WorkerHistogramFamily() = default;

WorkerHistogramFamily::Series& WorkerHistogramFamily::add(const prometheus::Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = index_.find(labels); it != index_.end()) return *it->second;
  auto series = std::make_shared<Series>(labels, bounds_ns_, workers_);
  index_.emplace(labels, series.get());
  series_.push_back(std::move(series));
  return *series_.back();
}

void WorkerHistogramFamily::remove(const Series& series) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(series_.begin(), series_.end(),
                         [&](const std::shared_ptr<Series>& s) { return s.get() == &series; });
  if (it == series_.end()) return;
  index_.erase((*it)->labels());
  series_.erase(it);  // a Collect() in progress may still hold it: shared_ptr
}

std::vector<prometheus::MetricFamily> WorkerHistogramFamily::Collect() const {
  std::vector<std::shared_ptr<Series>> series;
  {
    std::lock_guard<std::mutex> lock(mu_);
    series = series_;
  }
  // Like prometheus-cpp's Family: no series, no family (no HELP/TYPE lines).
  if (series.empty()) return {};
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = prometheus::MetricType::Histogram;
  family.metric.reserve(series.size());
  const size_t buckets = bounds_.size() + 1;
  std::vector<uint64_t> counts(buckets);
  for (const auto& s : series) {
    std::fill(counts.begin(), counts.end(), 0);
    uint64_t sum_ns = 0;
    for (size_t w = 0; w < workers_; ++w) {
      const Series::Slot& slot = s->slots_[w];
      for (size_t i = 0; i < buckets; ++i) {
        counts[i] += slot.counts[i].load(std::memory_order_relaxed);
      }
      sum_ns += slot.sum_ns.load(std::memory_order_relaxed);
    }
    prometheus::ClientMetric m;
    uint64_t cumulative = 0;
    m.histogram.bucket.reserve(buckets);
    for (size_t i = 0; i < buckets; ++i) {
      cumulative += counts[i];
      prometheus::ClientMetric::Bucket b;
      b.cumulative_count = cumulative;
      b.upper_bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back(b);
    }
    m.histogram.sample_count = cumulative;
    // A division of two exact integers: 25,000,000 ns is exactly "0.025".
    m.histogram.sample_sum = static_cast<double>(sum_ns) / 1e9;
    m.label.reserve(s->labels_.size());
    for (const auto& [k, v] : s->labels_) m.label.push_back({k, v});
    family.metric.push_back(std::move(m));
  }
  std::vector<prometheus::MetricFamily> out;
  out.push_back(std::move(family));
  return out;
}

}  // namespace routemeter
