// Micro-benchmark of server selection (ServerSelector::pick, what
// UpstreamPool::pick_server runs for every request) per balance rule and
// upstream size, with every server up, one passively down and every server
// down. Each benchmark reports allocs/iter: operator new is counted in this
// binary, so "a pick allocates nothing" is measured. Figures:
// docs/performance.md, section "Server selection".
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "routemeter/config.hpp"
#include "routemeter/snapshot.hpp"
#include "routemeter/upstream_pool.hpp"

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

const char* const kBalance[] = {"round_robin", "least_conn", "random_two"};

// One upstream of `servers` servers (every other one of weight 2).
std::shared_ptr<const Snapshot> make_snapshot(const char* balance, int servers) {
  std::string list;
  for (int i = 0; i < servers; ++i) {
    const std::string address = "\"127.0.0.1:" + std::to_string(10000 + i) + "\"";
    list += (i == 0 ? "" : ", ");
    list += i % 2 == 0 ? address : "{ address = " + address + ", weight = 2 }";
  }
  const std::string toml = "[[upstream]]\nname = \"u\"\nservers = [" + list + "]\nbalance = \"" +
                           balance + "\"\n[upstream.health]\ninterval = \"1h\"\n";
  ConfigLoadResult loaded = parse_config(toml, "bench.toml");
  std::string error;
  auto snap = Snapshot::build(loaded.config, nullptr, nullptr, &error);
  if (!snap) std::abort();
  return snap;
}

enum class Down { kNone, kOne, kAll };

// args: balance index, servers, Down.
void BM_Pick(benchmark::State& state) {
  const char* balance = kBalance[state.range(0)];
  const int servers = static_cast<int>(state.range(1));
  auto snap = make_snapshot(balance, servers);
  const ResolvedUpstream& up = snap->upstreams()[0];
  const auto down = static_cast<Down>(state.range(2));
  for (int s = 0; s < servers; ++s) {
    if (down == Down::kAll || (down == Down::kOne && s == 0)) {
      for (int i = 0; i < 3; ++i) up.report_failure(static_cast<size_t>(s), 1);
    }
  }
  ServerSelector selector(up, 42);
  // Some load for least_conn and random_two to compare.
  for (int s = 0; s < servers; ++s) {
    for (int i = 0; i < s % 3; ++i) selector.started(static_cast<size_t>(s));
  }
  size_t sum = 0;
  const uint64_t allocs_before = g_allocations.load();
  for (auto _ : state) {
    // The same instant: a down server is never due for a trial request.
    sum += selector.pick(2);
  }
  const uint64_t allocs = g_allocations.load() - allocs_before;
  benchmark::DoNotOptimize(sum);
  state.SetLabel(std::string(balance) + (down == Down::kNone  ? ""
                                         : down == Down::kOne ? ", one down"
                                                              : ", all down"));
  state.counters["allocs/iter"] =
      static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Pick)
    ->ArgsProduct({{0, 1, 2}, {1, 3, 10}, {0}})
    ->ArgsProduct({{0, 1, 2}, {3}, {1, 2}});

// What the retry budget costs every request that is not retried: counted in
// at the start, out at the end (retry_policy.hpp).
void BM_RetryBudgetPerRequest(benchmark::State& state) {
  RetryBudget budget(0.2);
  for (int i = 0; i < 10; ++i) budget.request_started();  // other requests in flight
  for (auto _ : state) {
    budget.request_started();
    benchmark::DoNotOptimize(budget);
    budget.request_finished(0);
  }
}
BENCHMARK(BM_RetryBudgetPerRequest);

}  // namespace
}  // namespace routemeter
