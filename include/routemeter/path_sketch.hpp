// PathSketch: the most frequent raw request paths of a stream in bounded
// memory, by the Space-Saving algorithm (Metwally, Agrawal, El Abbadi,
// "Efficient Computation of Frequent and Top-k Elements in Data Streams",
// ICDT 2005). It monitors `capacity` paths; a path not monitored takes the
// place of the one with the smallest count and inherits that count as its
// `error`, so every count is an overestimate by at most `error`, and any path
// seen more than total/capacity times is monitored. Per monitored path it
// also keeps the 5xx answers and a small latency histogram, both since the
// path was last placed (for /debug/paths: docs/metrics.md, "Top raw paths").
//
// Memory is allocated once, in the constructor (capacity x ~330 bytes plus a
// hash index); observe() never allocates, whatever the paths. Paths longer
// than kMaxPathBytes are cut there (and flagged): long paths sharing their
// first kMaxPathBytes bytes count as one.
//
// Not thread-safe: one owner (RouteTopPaths locks around it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace routemeter {

// The latency histogram of a monitored path: log-linear buckets over the
// duration in nanoseconds, 4 per power of two (a bucket's middle is within
// 12.5% of any duration in it), from 2^16 ns (65.5 us) to 2^37 ns (137 s);
// shorter durations count in bucket 0, longer ones in the last.
constexpr size_t kPathLatencyBuckets = 1 + (21 * 4);
size_t path_latency_bucket(uint64_t duration_ns);
double path_latency_bucket_seconds(size_t bucket);  // the bucket's middle

class PathSketch {
 public:
  static constexpr size_t kMaxPathBytes = 128;
  static constexpr size_t kMaxCapacity = 0x7fff;

  struct Entry {
    uint64_t hash = 0;
    uint32_t count = 0;      // observations, overestimated by at most `error`
    uint32_t error = 0;      // the count it inherited when it was placed
    uint32_t count_5xx = 0;  // 5xx answers since it was placed
    uint16_t size = 0;       // bytes of `path` used
    bool truncated = false;  // the path was longer than kMaxPathBytes
    char path[kMaxPathBytes];
    // Durations since it was placed. 16 bits per bucket: when one would
    // overflow, every bucket of the entry is halved (the shape, and so the
    // quantiles, stay; `latency_observed` says how many they stand for).
    std::array<uint16_t, kPathLatencyBuckets> latency{};
    std::string_view view() const { return {path, size}; }
    uint32_t latency_observed() const { return count - error; }
  };

  // `capacity`: paths monitored, 1..kMaxCapacity.
  explicit PathSketch(size_t capacity);
  ~PathSketch();
  PathSketch(const PathSketch&) = delete;
  PathSketch& operator=(const PathSketch&) = delete;

  // One answered request for `path` (cut to kMaxPathBytes; `truncated` also
  // marks a path its caller already cut).
  void observe(std::string_view path, bool truncated, bool is_5xx, uint64_t duration_ns);
  // Forgets everything (keeps the memory).
  void clear();

  size_t capacity() const { return capacity_; }
  size_t size() const { return size_; }
  uint64_t total() const { return total_; }  // observations since clear()
  // The smallest count monitored once every place is taken (0 before): an
  // upper bound of the count of any path not monitored.
  uint32_t min_count() const { return size_ == capacity_ ? groups_[min_group_].count : 0; }
  // The monitored entries, in no particular order.
  const Entry* begin() const { return entries_.get(); }
  const Entry* end() const { return entries_.get() + size_; }
  // Bytes allocated by this sketch (fixed at construction).
  size_t memory_bytes() const;

 private:
  uint32_t* find_index(uint64_t hash, std::string_view path);  // the index cell, or nullptr
  void index_insert(uint64_t hash, uint16_t slot);
  void index_erase(uint64_t hash, uint16_t slot);
  // The Stream-Summary of the paper: entries grouped by count, the groups in
  // a list by increasing count, so that finding the least counted entry and
  // counting one more are both O(1).
  void increment(uint16_t slot);  // count + 1, moving it to the next group
  void attach(uint16_t slot, uint16_t group);
  void detach(uint16_t slot);  // frees its group if it was alone in it
  uint16_t new_group(uint32_t count, uint16_t prev, uint16_t next);

  size_t capacity_;
  size_t size_ = 0;
  uint64_t total_ = 0;
  std::unique_ptr<Entry[]> entries_;
  static constexpr uint16_t kNone = 0xffff;
  struct Links {  // an entry's place in its group
    uint16_t group = kNone;
    uint16_t prev = kNone;
    uint16_t next = kNone;
  };
  struct Group {
    uint32_t count = 0;
    uint16_t first = kNone;  // its entries, a list through Links
    uint16_t prev = kNone;   // the group with the next smaller count
    uint16_t next = kNone;   // ... the next larger; or the free list
  };
  std::unique_ptr<Links[]> links_;   // per entry
  std::unique_ptr<Group[]> groups_;  // at most one per entry
  uint16_t min_group_ = kNone;       // the least counted entries
  uint16_t free_group_ = kNone;
  // Open addressing, linear probing, at least twice the capacity, a power of
  // two. A cell holds slot + 1 (0 = empty) in its low 16 bits and the low 16
  // bits of the path's hash (its home cell) in the high ones, so probing and
  // erasing rarely read an entry.
  std::unique_ptr<uint32_t[]> index_;
  size_t index_mask_ = 0;
};

}  // namespace routemeter
