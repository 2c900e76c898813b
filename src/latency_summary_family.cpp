#include <algorithm>
#include <ctime>
#include <utility>

#include "routemeter/latency_summary.hpp"

namespace routemeter {
namespace {

SketchOptions sketch_options(const MetricsConfig& config) {
  SketchOptions o;
  o.relative_error = 0.01;
  o.max_age = config.summary_max_age;
  o.age_buckets = std::max<uint32_t>(config.summary_age_buckets, 1);
  return o;
}

uint64_t monotonic_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

LatencySummaryFamily::Series::Series(prometheus::Labels labels, const SketchOptions& options,
                                     size_t workers)
    : labels_(std::move(labels)) {
  sketches_.reserve(workers);
  for (size_t w = 0; w < workers; ++w)
    sketches_.push_back(std::make_unique<LatencySketch>(options));
}

LatencySummaryFamily::LatencySummaryFamily(std::string name, std::string help,
                                           const MetricsConfig& config, size_t workers)
    : name_(std::move(name)),
      help_(std::move(help)),
      quantiles_(config.summary_quantiles),
      options_(sketch_options(config)),
      workers_(std::max<size_t>(workers, 1)) {}

LatencySummaryFamily::~LatencySummaryFamily() = default;

LatencySummaryFamily::Series& LatencySummaryFamily::add(const prometheus::Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = index_.find(labels); it != index_.end()) return *it->second;
  auto series = std::make_shared<Series>(labels, options_, workers_);
  index_.emplace(labels, series.get());
  series_.push_back(std::move(series));
  return *series_.back();
}

void LatencySummaryFamily::remove(const Series& series) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(series_.begin(), series_.end(),
                         [&](const std::shared_ptr<Series>& s) { return s.get() == &series; });
  if (it == series_.end()) return;
  index_.erase((*it)->labels());
  series_.erase(it);  // a Collect() in progress may still hold it: shared_ptr
}

size_t LatencySummaryFamily::series_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return series_.size();
}

std::vector<prometheus::MetricFamily> LatencySummaryFamily::Collect() const {
  return collect_at(monotonic_now_ns());
}

std::vector<prometheus::MetricFamily> LatencySummaryFamily::collect_at(uint64_t now_ns) const {
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
  family.type = prometheus::MetricType::Summary;
  family.metric.reserve(series.size());
  std::vector<uint64_t> counts;
  for (const auto& s : series) {
    const LatencySketch& first = *s->sketches_.front();
    counts.assign(first.bucket_count(), 0);
    uint64_t in_window = 0;
    prometheus::ClientMetric m;
    for (const auto& sketch : s->sketches_) {
      in_window += sketch->merge_into(counts, now_ns);
      m.summary.sample_count += sketch->total_count();
      m.summary.sample_sum += sketch->total_sum();
    }
    m.summary.quantile.reserve(quantiles_.size());
    for (const SummaryQuantile& q : quantiles_) {
      m.summary.quantile.push_back({q.quantile, first.quantile(counts, in_window, q.quantile)});
    }
    m.label.reserve(s->labels_.size());
    for (const auto& [k, v] : s->labels_) m.label.push_back({k, v});
    family.metric.push_back(std::move(m));
  }
  std::vector<prometheus::MetricFamily> out;
  out.push_back(std::move(family));
  return out;
}

}  // namespace routemeter
