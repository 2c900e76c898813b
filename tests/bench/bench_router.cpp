// Micro-benchmarks of Router::classify() and normalize_path(). Each benchmark
// also reports allocs/iter: operator new is counted in this binary, so the
// claim "exact and prefix rules allocate nothing" is measured, not assumed.
// Figures: docs/performance.md, section "Router".
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "routemeter/config.hpp"
#include "routemeter/router.hpp"

// The replacement operator new/delete below pair malloc with free on purpose;
// GCC flags the inlined pair as a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace routemeter {
namespace {

struct Request {
  std::string method;
  std::string host;
  std::string path;
};

// Runs classify() over `requests` round-robin and reports allocations.
void run_classify(benchmark::State& state, const Router& router,
                  const std::vector<Request>& requests) {
  size_t i = 0;
  size_t matched = 0;
  const uint64_t allocs_before = g_allocations.load();
  for (auto _ : state) {
    const Request& r = requests[i];
    const Router::Match m = router.classify(r.method, r.host, r.path);
    benchmark::DoNotOptimize(m);
    matched += m.route != nullptr;
    if (++i == requests.size()) i = 0;
  }
  const uint64_t allocs = g_allocations.load() - allocs_before;
  state.counters["allocs/iter"] =
      static_cast<double>(allocs) / static_cast<double>(state.iterations());
  state.counters["matched"] =
      static_cast<double>(matched) / static_cast<double>(state.iterations());
}

RouteConfig prefix_route(const std::string& name, const std::string& prefix) {
  RouteConfig rc;
  rc.name = name;
  rc.match = PathMatch::kPrefix;
  rc.path = prefix;
  rc.upstream = "backend";
  return rc;
}

// N prefix routes "/svc/0000/" ...; the request matches the last one, so every
// rule is tried (the worst case for a linear first-match table).
void BM_ClassifyPrefixLastOfN(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  Config config;
  for (size_t k = 0; k < n; ++k) {
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "/svc/%04zu/", k);
    config.routes.push_back(prefix_route("svc" + std::to_string(k), prefix));
  }
  const Router router(config);
  char last[48];
  std::snprintf(last, sizeof last, "/svc/%04zu/items/42", n - 1);
  run_classify(state, router, {{"GET", "api.example.com:8080", last}});
}
BENCHMARK(BM_ClassifyPrefixLastOfN)->Arg(10)->Arg(200);

// N routes shaped like a real config: every 4th an exact path, the others
// prefixes, every 3rd limited to GET/POST, every 5th bound to a host. The
// requests hit the start, the middle and the end of the table, miss on method
// and host, carry a query, and one matches nothing.
void BM_ClassifyTypicalMix(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  Config config;
  for (size_t k = 0; k < n; ++k) {
    RouteConfig rc = prefix_route("r" + std::to_string(k), "/api/s" + std::to_string(k) + "/");
    if (k % 4 == 3) {
      rc.match = PathMatch::kExact;
      rc.path = "/api/s" + std::to_string(k) + "/status";
    }
    if (k % 3 == 1) rc.methods = {"GET", "POST"};
    if (k % 5 == 2) rc.host = k % 2 ? "*.example.com" : "api.example.com";
    config.routes.push_back(rc);
  }
  const Router router(config);
  const std::string early = "/api/s0/cars/1";
  const std::string mid = "/api/s" + std::to_string(n / 2) + "/x";
  const std::string late = "/api/s" + std::to_string(n - 2) + "/y?page=2";
  const std::string exact = "/api/s" + std::to_string(n - 1) + "/status";
  const std::string with_host = "/api/s" + std::to_string(n - 3) + "/z";
  const std::vector<Request> requests = {
      {"GET", "api.example.com", early},   {"get", "api.example.com:443", mid},
      {"POST", "API.example.com", late},   {"GET", "api.example.com", exact},
      {"GET", "b.example.com", with_host}, {"DELETE", "api.example.com", early},
      {"GET", "api.example.com", "/nope"}, {"HEAD", "[::1]:8080", mid},
  };
  run_classify(state, router, requests);
}
BENCHMARK(BM_ClassifyTypicalMix)->Arg(10)->Arg(200);

// A regex route at the end of N prefix routes: the price of std::regex.
void BM_ClassifyRegexLastOfN(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  Config config;
  for (size_t k = 0; k + 1 < n; ++k) {
    config.routes.push_back(prefix_route("p" + std::to_string(k), "/p" + std::to_string(k) + "/"));
  }
  RouteConfig rc = prefix_route("versioned", "^/api/v[0-9]+/");
  rc.match = PathMatch::kRegex;
  config.routes.push_back(rc);
  const Router router(config);
  run_classify(state, router, {{"GET", "api.example.com", "/api/v2/cars/1"}});
}
BENCHMARK(BM_ClassifyRegexLastOfN)->Arg(10);

void run_normalize(benchmark::State& state, const std::string& path) {
  std::string out;
  std::string_view result;
  const uint64_t allocs_before = g_allocations.load();
  for (auto _ : state) {
    const bool ok = normalize_path(path, out, result);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(result);
  }
  const uint64_t allocs = g_allocations.load() - allocs_before;
  state.counters["allocs/iter"] =
      static_cast<double>(allocs) / static_cast<double>(state.iterations());
}

void BM_NormalizeFastPath(benchmark::State& state) {
  run_normalize(state, "/api/car/random/1234567890/details");
}
BENCHMARK(BM_NormalizeFastPath);

// Dot segments and escapes: the slow path, with `out` reused across calls.
void BM_NormalizeDotSegments(benchmark::State& state) {
  run_normalize(state, "/api/car/../shop/%7Euser/./items/%2e%2e/42");
}
BENCHMARK(BM_NormalizeDotSegments);

}  // namespace
}  // namespace routemeter
