// PathSketch (Space-Saving): exact while the paths fit, the algorithm's
// bounds when they do not, memory fixed at construction, and the latency
// buckets of each path.
#include "routemeter/path_sketch.hpp"

#include <malloc.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace routemeter;

namespace {

const PathSketch::Entry* find(const PathSketch& s, std::string_view path) {
  for (const PathSketch::Entry& e : s) {
    if (e.view() == path) return &e;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("path sketch: exact counts while every path fits", "[top_paths]") {
  PathSketch s(4);
  for (int i = 0; i < 5; ++i) s.observe("/a", false, false, 1'000'000);
  for (int i = 0; i < 3; ++i) s.observe("/b", false, i == 0, 2'000'000);
  s.observe("/c", false, true, 3'000'000);
  CHECK(s.size() == 3);
  CHECK(s.total() == 9);
  CHECK(s.min_count() == 0);  // not full: nothing was ever missed
  const PathSketch::Entry* a = find(s, "/a");
  REQUIRE(a != nullptr);
  CHECK(a->count == 5);
  CHECK(a->error == 0);
  CHECK(a->count_5xx == 0);
  CHECK(a->latency[path_latency_bucket(1'000'000)] == 5);
  const PathSketch::Entry* b = find(s, "/b");
  REQUIRE(b != nullptr);
  CHECK(b->count == 3);
  CHECK(b->count_5xx == 1);
  CHECK(find(s, "/c")->count_5xx == 1);
}

TEST_CASE("path sketch: a new path takes the least counted place and inherits its count",
          "[top_paths]") {
  PathSketch s(2);
  s.observe("/a", false, false, 1);
  s.observe("/a", false, false, 1);
  s.observe("/b", false, true, 1);
  CHECK(s.min_count() == 1);
  s.observe("/c", false, false, 1);  // replaces /b (count 1)
  CHECK(find(s, "/b") == nullptr);
  const PathSketch::Entry* c = find(s, "/c");
  REQUIRE(c != nullptr);
  CHECK(c->count == 2);
  CHECK(c->error == 1);
  CHECK(c->count_5xx == 0);  // /b's 5xx went with /b
  CHECK(c->latency_observed() == 1);
  CHECK(find(s, "/a")->count == 2);
  s.observe("/b", false, false, 1);  // back: replaces /a or /c (both 2)
  CHECK(s.size() == 2);
  CHECK(find(s, "/b")->count == 3);
  CHECK(find(s, "/b")->error == 2);
  s.clear();
  CHECK(s.size() == 0);
  CHECK(s.total() == 0);
  s.observe("/a", false, false, 1);
  CHECK(find(s, "/a")->count == 1);
  CHECK(find(s, "/a")->error == 0);
}

namespace {

// Space-Saving's guarantees, checked against the exact counts of a random
// stream of `n` requests over `distinct` paths (skewed by `skew`).
void check_bounds(size_t capacity, int n, int distinct, int skew, uint64_t seed) {
  INFO("capacity " << capacity << ", " << n << " requests over " << distinct << " paths");
  PathSketch s(capacity);
  std::mt19937_64 rng(seed);
  std::map<std::string, uint64_t> truth;
  for (int i = 0; i < n; ++i) {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    double x = u;
    for (int k = 1; k < skew; ++k) x *= u;
    const std::string path = "/p/" + std::to_string(static_cast<int>(distinct * x));
    ++truth[path];
    s.observe(path, false, false, 1);
  }
  CHECK(s.size() == std::min<size_t>(capacity, truth.size()));
  CHECK(s.total() == static_cast<uint64_t>(n));
  uint64_t sum = 0;
  std::set<std::string> seen;
  for (const PathSketch::Entry& e : s) {
    INFO(e.view());
    CHECK(seen.insert(std::string(e.view())).second);  // each path once
    const uint64_t t = truth[std::string(e.view())];
    CHECK(e.count >= t);              // never under
    CHECK(e.count - e.error <= t);    // over by at most the inherited count
    CHECK(e.error <= s.min_count());  // which was the smallest count then
    CHECK(e.count >= s.min_count());
    sum += e.count;
  }
  CHECK(sum == s.total());  // Space-Saving's counts add up to the stream length
  // Every path seen more than total/capacity times is monitored, and no path
  // outside was seen more often than the smallest count.
  for (const auto& [path, count] : truth) {
    INFO(path);
    const bool monitored = seen.count(path) != 0;
    if (count > s.total() / capacity) CHECK(monitored);
    if (!monitored) CHECK(count <= s.min_count());
  }
}

}  // namespace

TEST_CASE("path sketch: Space-Saving's bounds hold on random streams", "[top_paths]") {
  check_bounds(100, 200'000, 5000, 3, 7);        // skewed, many more paths than places
  check_bounds(3, 10'000, 50, 1, 8);             // uniform: ties everywhere
  check_bounds(1, 1000, 10, 2, 9);               // one place
  check_bounds(64, 5000, 40, 2, 10);             // every path fits
  check_bounds(500, 300'000, 1'000'000, 1, 11);  // nearly all distinct
}

TEST_CASE("path sketch: a million distinct paths keep memory flat", "[top_paths]") {
  PathSketch s(120);
  const size_t bytes = s.memory_bytes();
  CHECK(bytes < 64 * 1024);
  std::string path = "/users/";
  path.reserve(64);
  s.observe("/warm-up", false, false, 1);
  const size_t heap_before = mallinfo2().uordblks;
  for (int i = 0; i < 1'000'000; ++i) {
    path.resize(7);
    path += std::to_string(i);
    s.observe(path, false, (i % 10) == 0, static_cast<uint64_t>(i) * 1000);
  }
  const size_t heap_after = mallinfo2().uordblks;
  CHECK(heap_after == heap_before);  // observe() never allocates
  CHECK(s.memory_bytes() == bytes);
  CHECK(s.size() == 120);
  CHECK(s.total() == 1'000'001);
  // Every path appeared once: each count is 1 plus what it inherited.
  for (const PathSketch::Entry& e : s) CHECK(e.count == e.error + 1);
}

TEST_CASE("path sketch: long paths are cut and marked, and count as one", "[top_paths]") {
  PathSketch s(8);
  const std::string head(PathSketch::kMaxPathBytes, 'x');
  s.observe("/" + head + "/1", false, false, 1);
  s.observe("/" + head + "/2", false, false, 1);
  s.observe(head.substr(0, 10), false, false, 1);
  s.observe("/already-cut", true, false, 1);
  REQUIRE(s.size() == 3);
  const PathSketch::Entry* cut = find(s, ("/" + head).substr(0, PathSketch::kMaxPathBytes));
  REQUIRE(cut != nullptr);
  CHECK(cut->count == 2);
  CHECK(cut->truncated);
  CHECK_FALSE(find(s, head.substr(0, 10))->truncated);
  CHECK(find(s, "/already-cut")->truncated);
}

TEST_CASE("path sketch: latency buckets are 4 per power of two, within 12.5%", "[top_paths]") {
  CHECK(path_latency_bucket(0) == 0);
  CHECK(path_latency_bucket(65'535) == 0);
  CHECK(path_latency_bucket(65'536) == 1);
  CHECK(path_latency_bucket(uint64_t{1} << 37) == kPathLatencyBuckets - 1);
  CHECK(path_latency_bucket(UINT64_MAX) == kPathLatencyBuckets - 1);
  size_t last = 0;
  for (uint64_t ns = 65'536; ns < (uint64_t{1} << 37); ns += ns / 97 + 1) {
    const size_t b = path_latency_bucket(ns);
    INFO(ns << " ns in bucket " << b);
    CHECK(b >= last);  // monotonic
    last = b;
    const double seconds = static_cast<double>(ns) * 1e-9;
    CHECK(std::abs(path_latency_bucket_seconds(b) - seconds) <= 0.125 * seconds * (1 + 1e-12));
  }
  CHECK(last == kPathLatencyBuckets - 1);
}

TEST_CASE("path sketch: a full latency bucket halves the path's buckets", "[top_paths]") {
  PathSketch s(2);
  for (int i = 0; i < 70'000; ++i) s.observe("/hot", false, false, 1'000'000);
  for (int i = 0; i < 7'000; ++i) s.observe("/hot", false, false, 100'000'000);
  const PathSketch::Entry* e = find(s, "/hot");
  REQUIRE(e != nullptr);
  CHECK(e->count == 77'000);
  // Halved once at 65,535: the two buckets keep their ratio.
  const double fast = e->latency[path_latency_bucket(1'000'000)];
  const double slow = e->latency[path_latency_bucket(100'000'000)];
  CHECK(fast == 32'768 + (70'000 - 65'535));
  CHECK(slow == 7'000);
}
