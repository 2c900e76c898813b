// Per-route top paths: per-worker Space-Saving sketches in two generations,
// merged when GET /debug/paths asks. See top_paths.hpp.
#include "routemeter/top_paths.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include "routemeter/json.hpp"

namespace routemeter {

struct RouteTopPaths::Shard {
  mutable std::mutex mu;
  // Generation g lives in sketch[g % 2]; epoch[i] says which one it holds.
  std::array<std::unique_ptr<PathSketch>, 2> sketch;
  std::array<uint64_t, 2> epoch{UINT64_MAX, UINT64_MAX};
  // The generation of the last observation and its span [begin, end): the
  // next one in it needs no 64-bit division.
  uint64_t current = UINT64_MAX;
  uint64_t begin_ns = 0;
  uint64_t end_ns = 0;
};

RouteTopPaths::RouteTopPaths(size_t workers, size_t capacity, std::chrono::nanoseconds generation)
    : workers_(std::max<size_t>(workers, 1)),
      capacity_(capacity),
      generation_ns_(static_cast<uint64_t>(std::max<int64_t>(generation.count(), 1))),
      shards_(std::make_unique<Shard[]>(workers_)) {}

RouteTopPaths::~RouteTopPaths() = default;

void RouteTopPaths::observe(size_t worker, std::string_view path, bool truncated, int status,
                            uint64_t duration_ns, uint64_t now_ns) {
  Shard& shard = shards_[worker];
  std::lock_guard<std::mutex> lock(shard.mu);
  if (now_ns < shard.begin_ns || now_ns >= shard.end_ns) {
    shard.current = now_ns / generation_ns_;
    shard.begin_ns = shard.current * generation_ns_;
    shard.end_ns = shard.begin_ns + generation_ns_;
  }
  const uint64_t epoch = shard.current;
  const size_t g = epoch % 2;
  std::unique_ptr<PathSketch>& sketch = shard.sketch[g];
  if (!sketch) sketch = std::make_unique<PathSketch>(capacity_);  // once per worker and generation
  if (shard.epoch[g] != epoch) {
    sketch->clear();  // it held generation epoch - 2 (or older): out of every window now
    shard.epoch[g] = epoch;
  }
  sketch->observe(path, truncated, status >= 500 && status <= 599, duration_ns);
}

size_t RouteTopPaths::memory_bytes() const {
  size_t bytes = sizeof(*this) + (workers_ * sizeof(Shard));
  for (size_t w = 0; w < workers_; ++w) {
    std::lock_guard<std::mutex> lock(shards_[w].mu);
    for (const auto& sketch : shards_[w].sketch) {
      if (sketch) bytes += sketch->memory_bytes();
    }
  }
  return bytes;
}

namespace {

// One path's figures summed over the sketches that monitor it.
struct Merged {
  uint64_t count = 0;
  uint64_t error = 0;          // sum of the inherited counts
  uint64_t monitored_min = 0;  // sum of min_count() of the sketches that monitor it
  uint64_t count_5xx = 0;
  bool truncated = false;
  std::array<double, kPathLatencyBuckets> latency{};  // weighted by what each bucket stands for
};

double p99_of(const std::array<double, kPathLatencyBuckets>& latency) {
  double total = 0;
  for (double v : latency) total += v;
  if (!(total > 0)) return 0;
  const double rank = 0.99 * total;
  double cumulative = 0;
  for (size_t i = 0; i < latency.size(); ++i) {
    cumulative += latency[i];
    if (cumulative >= rank) return path_latency_bucket_seconds(i);
  }
  return path_latency_bucket_seconds(latency.size() - 1);
}

}  // namespace

RouteReport RouteTopPaths::report(size_t limit, uint64_t now_ns) const {
  const uint64_t epoch = now_ns / generation_ns_;
  RouteReport out;
  out.window_seconds =
      static_cast<double>(now_ns - ((epoch > 0 ? epoch - 1 : 0) * generation_ns_)) * 1e-9;
  std::unordered_map<std::string, Merged> merged;
  uint64_t min_sum = 0;  // sum of min_count() over every sketch read
  for (size_t w = 0; w < workers_; ++w) {
    const Shard& shard = shards_[w];
    std::lock_guard<std::mutex> lock(shard.mu);
    for (size_t g = 0; g < 2; ++g) {
      const PathSketch* sketch = shard.sketch[g].get();
      const uint64_t e = shard.epoch[g];
      if (sketch == nullptr || (e != epoch && e + 1 != epoch)) continue;
      out.requests += sketch->total();
      const uint64_t min_count = sketch->min_count();
      min_sum += min_count;
      for (const PathSketch::Entry& entry : *sketch) {
        Merged& m = merged[std::string(entry.view())];
        m.count += entry.count;
        m.error += entry.error;
        m.monitored_min += min_count;
        m.count_5xx += entry.count_5xx;
        m.truncated = m.truncated || entry.truncated;
        // The halved buckets stand for latency_observed() durations in all.
        uint64_t held = 0;
        for (uint16_t b : entry.latency) held += b;
        if (held == 0) continue;
        const double weight =
            static_cast<double>(entry.latency_observed()) / static_cast<double>(held);
        for (size_t i = 0; i < kPathLatencyBuckets; ++i) m.latency[i] += entry.latency[i] * weight;
      }
    }
  }
  out.paths.reserve(merged.size());
  for (auto& [path, m] : merged) {
    PathReport r;
    r.path = path;
    r.truncated = m.truncated;
    r.count = m.count;
    // At least count - error were seen; a sketch that does not monitor the
    // path may have seen it up to its min_count() times.
    r.count_error = std::max(m.error, min_sum - m.monitored_min);
    r.count_5xx = m.count_5xx;
    // Microseconds are plenty for a value known within 12.5%.
    r.p99_seconds = std::round(p99_of(m.latency) * 1e6) / 1e6;
    out.paths.push_back(std::move(r));
  }
  std::sort(out.paths.begin(), out.paths.end(), [](const PathReport& a, const PathReport& b) {
    return a.count != b.count ? a.count > b.count : a.path < b.path;
  });
  if (out.paths.size() > limit) out.paths.resize(limit);
  return out;
}

TopPaths::TopPaths(size_t top_paths, size_t workers) : top_paths_(top_paths), workers_(workers) {}

std::shared_ptr<RouteTopPaths> TopPaths::route(const std::string& key) {
  if (top_paths_ == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  std::weak_ptr<RouteTopPaths>& weak = routes_[key];
  std::shared_ptr<RouteTopPaths> route = weak.lock();
  if (!route) {
    route = std::make_shared<RouteTopPaths>(
        workers_, std::min(top_paths_ * kTopPathsCapacityFactor, PathSketch::kMaxCapacity),
        kTopPathsGeneration);
    weak = route;
  }
  // Drop the entries of routes gone with their last binding.
  std::erase_if(routes_, [](const auto& entry) { return entry.second.expired(); });
  return route;
}

namespace {

void append_number(std::string& out, double v) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

}  // namespace

std::string top_paths_json(const std::vector<TopPathsRoute>& routes, size_t limit,
                           uint64_t now_ns) {
  std::vector<RouteReport> reports;
  reports.reserve(routes.size());
  for (const TopPathsRoute& r : routes) reports.push_back(r.paths->report(limit, now_ns));
  std::string out = "{\n  \"top_paths\": " + std::to_string(limit) + ",\n  \"window_seconds\": ";
  append_number(out, reports.empty() ? 0.0 : std::round(reports.front().window_seconds));
  out += ",\n  \"routes\": [";
  for (size_t i = 0; i < routes.size(); ++i) {
    const RouteReport& report = reports[i];
    out += i == 0 ? "\n    {\"route\": " : ",\n    {\"route\": ";
    append_json_string(out, routes[i].route);
    out += ", \"upstream\": ";
    append_json_string(out, routes[i].upstream);
    out += ", \"requests\": " + std::to_string(report.requests) + ", \"paths\": [";
    for (size_t p = 0; p < report.paths.size(); ++p) {
      const PathReport& path = report.paths[p];
      out += p == 0 ? "\n      {\"path\": " : ",\n      {\"path\": ";
      append_json_string(out, path.path);
      out += ", \"count\": " + std::to_string(path.count);
      out += ", \"count_error\": " + std::to_string(path.count_error);
      out += ", \"count_5xx\": " + std::to_string(path.count_5xx);
      out += ", \"p99_seconds\": ";
      append_number(out, path.p99_seconds);
      out += path.truncated ? ", \"truncated\": true}" : ", \"truncated\": false}";
    }
    out += report.paths.empty() ? "]}" : "\n    ]}";
  }
  out += routes.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

}  // namespace routemeter
