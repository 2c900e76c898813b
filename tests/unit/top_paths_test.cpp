// Top paths per route: per-worker sketches merged when read, two generations
// for "the last minutes", the registry that keeps a route's sketches across
// a reload, and the JSON of GET /debug/paths.
#include "routemeter/top_paths.hpp"

#include <malloc.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace routemeter;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kMinute = 60'000'000'000ull;
constexpr uint64_t kT0 = 1000 * kMinute;  // a monotonic reading at a generation's start

const PathReport* find(const RouteReport& r, std::string_view path) {
  for (const PathReport& p : r.paths) {
    if (p.path == path) return &p;
  }
  return nullptr;
}

// Zipf(s) over n ranks by inverse CDF.
class Zipf {
 public:
  Zipf(size_t n, double s) : cdf_(n) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
      cdf_[i] = sum;
    }
    for (double& c : cdf_) c /= sum;
  }
  size_t operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

}  // namespace

TEST_CASE("top paths: a Zipf workload over 2 workers finds the true top 10", "[top_paths]") {
  // 1,000,000 requests over 100,000 paths, Zipf exponent 1.0 (a heavy tail:
  // 60% of the requests go to paths outside the top 60), split at random
  // between two workers; reported: top_paths = 20, so 120 places per sketch.
  constexpr size_t kPaths = 100'000;
  constexpr size_t kTopPaths = 20;
  RouteTopPaths top(2, kTopPaths * kTopPathsCapacityFactor, kTopPathsGeneration);
  std::mt19937_64 rng(12345);
  std::vector<std::string> names(kPaths);
  for (size_t i = 0; i < kPaths; ++i) names[i] = "/api/items/" + std::to_string(rng() % 10'000'000);
  const Zipf zipf(kPaths, 1.0);
  std::map<std::string, uint64_t> truth;
  std::map<std::string, uint64_t> truth_5xx;
  for (int i = 0; i < 1'000'000; ++i) {
    const std::string& path = names[zipf(rng)];
    const bool fail = (rng() % 100) < 3;
    ++truth[path];
    if (fail) ++truth_5xx[path];
    top.observe(rng() % 2, path, false, fail ? 503 : 200, 5'000'000,
                kT0 + static_cast<uint64_t>(i));
  }
  std::vector<std::pair<uint64_t, std::string>> ranked;
  for (const auto& [path, n] : truth) ranked.emplace_back(n, path);
  std::sort(ranked.rbegin(), ranked.rend());
  REQUIRE(ranked[9].first > ranked[10].first);  // the true top 10 is well defined

  const RouteReport report = top.report(kTopPaths, kT0 + kMinute);
  CHECK(report.requests == 1'000'000);
  REQUIRE(report.paths.size() == kTopPaths);
  std::set<std::string> found;
  std::set<std::string> expected;
  for (size_t i = 0; i < 10; ++i) {
    found.insert(report.paths[i].path);
    expected.insert(ranked[i].second);
  }
  CHECK(found == expected);
  for (const PathReport& p : report.paths) {
    INFO(p.path << ": " << p.count << " +- " << p.count_error << ", truth " << truth[p.path]);
    const auto t = static_cast<double>(truth[p.path]);
    CHECK(std::abs(static_cast<double>(p.count) - t) <= static_cast<double>(p.count_error));
    CHECK(p.count_5xx <= truth_5xx[p.path]);
  }
  // The top 10 were monitored for all but a few of their requests (dropped
  // early on, before they stood out): counts and 5xx within 1%, and the
  // latency of what was seen.
  for (size_t i = 0; i < 10; ++i) {
    const PathReport* p = find(report, ranked[i].second);
    REQUIRE(p != nullptr);
    INFO(p->path << ": " << p->count << " +- " << p->count_error << ", truth " << ranked[i].first);
    CHECK(p->count_error * 100 <= p->count);
    CHECK(truth_5xx[p->path] - p->count_5xx <= p->count_error);
    CHECK(std::abs(p->p99_seconds - 0.005) <= 0.005 * 0.125);
  }
}

TEST_CASE("top paths: a million distinct paths keep memory flat", "[top_paths]") {
  RouteTopPaths top(2, 120, kTopPathsGeneration);
  CHECK(top.memory_bytes() < 1024);  // nothing before the first request
  top.observe(0, "/warm", false, 200, 1, kT0);
  top.observe(1, "/warm", false, 200, 1, kT0);
  const size_t bytes = top.memory_bytes();
  const size_t heap_before = mallinfo2().uordblks;
  std::string path = "/u/";
  for (int i = 0; i < 1'000'000; ++i) {
    path.resize(3);
    path += std::to_string(i);
    top.observe(static_cast<size_t>(i % 2), path, false, 200, 1'000'000, kT0 + 1);
  }
  CHECK(mallinfo2().uordblks == heap_before);
  CHECK(top.memory_bytes() == bytes);
  // Two workers' current generation: 2 x 120 x ~330 bytes.
  CHECK(bytes < 2 * 64 * 1024);
  const RouteReport r = top.report(20, kT0 + 2);
  CHECK(r.requests == 1'000'002);
  CHECK(r.paths.size() == 20);
}

TEST_CASE("top paths: counts cover this generation and the one before", "[top_paths]") {
  const uint64_t gen = std::chrono::nanoseconds(kTopPathsGeneration).count();
  RouteTopPaths top(2, 10, kTopPathsGeneration);
  top.observe(0, "/old", false, 500, 1'000'000, kT0);
  top.observe(1, "/old", false, 200, 1'000'000, kT0 + 1);
  top.observe(0, "/new", false, 200, 1'000'000, kT0 + gen);  // the next generation

  RouteReport r = top.report(5, kT0 + gen + kMinute);
  CHECK(r.requests == 3);
  CHECK(r.window_seconds == Approx(360));  // since the previous generation began
  REQUIRE(r.paths.size() == 2);
  CHECK(r.paths[0].path == "/old");
  CHECK(r.paths[0].count == 2);
  CHECK(r.paths[0].count_5xx == 1);
  CHECK(r.paths[0].count_error == 0);
  CHECK(r.paths[1].path == "/new");

  // Two generations on, /old is out of the window; worker 0's slot is reused.
  top.observe(0, "/newer", false, 200, 1, kT0 + (2 * gen));
  r = top.report(5, kT0 + (2 * gen) + 1);
  CHECK(r.requests == 2);
  CHECK(find(r, "/old") == nullptr);
  CHECK(find(r, "/new") != nullptr);
  CHECK(find(r, "/newer") != nullptr);
  // And with no traffic for two generations, nothing at all.
  r = top.report(5, kT0 + (4 * gen));
  CHECK(r.requests == 0);
  CHECK(r.paths.empty());
}

TEST_CASE("top paths: a path one worker dropped carries that worker's bound", "[top_paths]") {
  RouteTopPaths top(2, 2, kTopPathsGeneration);
  // Worker 0 monitors /a and /b only; /c came and went there.
  for (int i = 0; i < 5; ++i) top.observe(0, "/a", false, 200, 1, kT0);
  top.observe(0, "/c", false, 200, 1, kT0);
  for (int i = 0; i < 3; ++i) top.observe(0, "/b", false, 200, 1, kT0);  // evicts /c
  // Worker 1 saw /c four times.
  for (int i = 0; i < 4; ++i) top.observe(1, "/c", false, 200, 1, kT0);
  const RouteReport r = top.report(5, kT0 + 1);
  const PathReport* c = find(r, "/c");
  REQUIRE(c != nullptr);
  CHECK(c->count == 4);
  // Worker 0 could have seen /c up to its smallest count (4: /b took /c's
  // place with 1 + 3) more times.
  CHECK(c->count_error == 4);
  const PathReport* b = find(r, "/b");
  REQUIRE(b != nullptr);
  CHECK(b->count == 4);
  CHECK(b->count_error == 1);
}

TEST_CASE("top paths: the registry shares a route's sketches while a binding holds them",
          "[top_paths]") {
  TopPaths off(0, 2);
  CHECK(off.route("r:u/a") == nullptr);

  TopPaths reg(20, 2);
  std::shared_ptr<RouteTopPaths> a = reg.route("r:u/a");
  REQUIRE(a);
  CHECK(reg.route("r:u/a") == a);  // a reload keeping the route: the same sketches
  CHECK(reg.route("r:u/b") != a);
  a->observe(0, "/x", false, 200, 1, kT0);
  std::weak_ptr<RouteTopPaths> weak = a;
  a.reset();
  CHECK(weak.expired());  // the last binding went: so did its paths
  CHECK(reg.route("r:u/a")->report(5, kT0).requests == 0);
}

TEST_CASE("top paths: the /debug/paths JSON", "[top_paths]") {
  RouteTopPaths car(1, 10, kTopPathsGeneration);
  RouteTopPaths empty(1, 10, kTopPathsGeneration);
  car.observe(0, "/api/car/1", false, 200, 100'000'000, kT0);
  car.observe(0, "/api/car/1", false, 502, 300'000'000, kT0);
  car.observe(0, "/api/car/\"q\"", true, 200, 100'000'000, kT0);
  const std::string json =
      top_paths_json({{"car-api", "car", &car}, {"unmatched", "none", &empty}}, 5, kT0 + kMinute);
  CHECK(json == R"({
  "top_paths": 5,
  "window_seconds": 360,
  "routes": [
    {"route": "car-api", "upstream": "car", "requests": 3, "paths": [
      {"path": "/api/car/1", "count": 2, "count_error": 0, "count_5xx": 1, "p99_seconds": 0.30199, "truncated": false},
      {"path": "/api/car/\"q\"", "count": 1, "count_error": 0, "count_5xx": 0, "p99_seconds": 0.092275, "truncated": true}
    ]},
    {"route": "unmatched", "upstream": "none", "requests": 0, "paths": []}
  ]
}
)");
  CHECK(top_paths_json({}, 5, kT0) ==
        "{\n  \"top_paths\": 5,\n  \"window_seconds\": 0,\n  \"routes\": []\n}\n");
}
