// The most frequent raw paths of each route, for GET /debug/paths on the
// admin listener (docs/metrics.md, "Top raw paths"). Never a metric label.
//
// RouteTopPaths: one route's PathSketches, per worker, in two generations of
// kTopPathsGeneration each (the current one and the one before), so that a
// report covers the last 5 to 10 minutes. A worker observes into its own
// sketches under its own mutex, which only a report also takes (briefly, to
// copy): uncontended on the request path. report() merges every worker's two
// generations. Memory per route and worker: 2 x PathSketch::memory_bytes(),
// allocated on the first request the worker sees on the route.
//
// TopPaths: the registry, one per process (in Metrics): the RouteTopPaths of
// a route (by series key) outlives a reload that keeps the route, since the
// old and the new binding hold the same one. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/path_sketch.hpp"

namespace routemeter {

constexpr std::chrono::minutes kTopPathsGeneration{5};
// Paths each sketch monitors for `top_paths` shown: Space-Saving finds the
// top ones reliably with a few times more places than it reports
// (tests/unit/top_paths_test.cpp, Zipf 1.0 over 100,000 paths).
constexpr size_t kTopPathsCapacityFactor = 6;

struct PathReport {
  std::string path;
  bool truncated = false;    // cut at PathSketch::kMaxPathBytes
  uint64_t count = 0;        // requests, estimated
  uint64_t count_error = 0;  // the true count is within count +- count_error
  uint64_t count_5xx = 0;    // 5xx answers seen while the path was monitored (a lower bound)
  double p99_seconds = 0;    // of the durations seen while it was monitored
};

struct RouteReport {
  uint64_t requests = 0;          // every request of the route in the window (exact)
  double window_seconds = 0;      // how far back the window reaches
  std::vector<PathReport> paths;  // most frequent first
};

class RouteTopPaths {
 public:
  // `capacity`: paths each sketch monitors; `generation`: how long one lasts.
  RouteTopPaths(size_t workers, size_t capacity, std::chrono::nanoseconds generation);
  ~RouteTopPaths();
  RouteTopPaths(const RouteTopPaths&) = delete;
  RouteTopPaths& operator=(const RouteTopPaths&) = delete;

  // Worker `worker`'s thread: one answered request. `now_ns`: monotonic.
  void observe(size_t worker, std::string_view path, bool truncated, int status,
               uint64_t duration_ns, uint64_t now_ns);
  // Any thread: the `limit` most frequent paths of the window ending at
  // `now_ns`, over every worker.
  RouteReport report(size_t limit, uint64_t now_ns) const;
  // Bytes allocated so far (sketches are allocated on first use).
  size_t memory_bytes() const;

 private:
  struct Shard;
  size_t workers_;
  size_t capacity_;
  uint64_t generation_ns_;
  std::unique_ptr<Shard[]> shards_;  // one per worker
};

class TopPaths {
 public:
  // `top_paths`: paths reported per route ([metrics] top_paths); 0 = off.
  TopPaths(size_t top_paths, size_t workers);
  size_t top_paths() const { return top_paths_; }
  // The route's sketches (created on first call for `key`); nullptr when off.
  std::shared_ptr<RouteTopPaths> route(const std::string& key);

 private:
  size_t top_paths_;
  size_t workers_;
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<RouteTopPaths>> routes_;
};

// One route as GET /debug/paths lists it.
struct TopPathsRoute {
  std::string_view route;
  std::string_view upstream;
  const RouteTopPaths* paths = nullptr;
};

// The body of GET /debug/paths: {"top_paths": N, "window_seconds": ...,
// "routes": [{"route", "upstream", "requests", "paths": [{"path", "count",
// "count_error", "count_5xx", "p99_seconds", "truncated"}]}]}.
std::string top_paths_json(const std::vector<TopPathsRoute>& routes, size_t limit, uint64_t now_ns);

}  // namespace routemeter
