#include <algorithm>
#include <cmath>
#include <limits>

#include "routemeter/latency_summary.hpp"

namespace routemeter {
namespace {

constexpr uint64_t kNoEpoch = std::numeric_limits<uint64_t>::max();
constexpr uint32_t kEmptyLo = std::numeric_limits<uint32_t>::max();

}  // namespace

// One age window. Its counts live in the sketch's counts_ array at
// [slot * buckets_, (slot + 1) * buckets_). [lo, hi) bounds the buckets the
// writer touched since the window's last reset, so that a reset and a merge
// only walk the few dozen buckets real latencies occupy, not all ~1150.
struct LatencySketch::Window {
  std::atomic<uint64_t> epoch{kNoEpoch};  // now_ns / window_ns_ of its observations
  std::atomic<uint32_t> lo{kEmptyLo};
  std::atomic<uint32_t> hi{0};
};

LatencySketch::LatencySketch(const SketchOptions& options) : options_(options) {
  const double a = std::clamp(options_.relative_error, 1e-6, 0.5);
  options_.relative_error = a;
  if (!(options_.min_value > 0)) options_.min_value = 1e-6;
  if (!(options_.max_value > options_.min_value)) options_.max_value = options_.min_value * 2;
  if (options_.age_buckets == 0) options_.age_buckets = 1;
  gamma_ = (1 + a) / (1 - a);
  log_gamma_ = std::log(gamma_);
  inv_log_gamma_ = 1 / log_gamma_;
  min_index_offset_ = std::ceil(std::log(options_.min_value) * inv_log_gamma_);
  const double top = std::ceil(std::log(options_.max_value) * inv_log_gamma_);
  buckets_ = static_cast<size_t>(top - min_index_offset_) + 1;
  const auto max_age_ns = static_cast<uint64_t>(
      std::max<int64_t>(std::chrono::nanoseconds(options_.max_age).count(), 1));
  window_ns_ = std::max<uint64_t>(max_age_ns / options_.age_buckets, 1);
  windows_ = std::make_unique<Window[]>(options_.age_buckets);
}

LatencySketch::~LatencySketch() { delete[] counts_.load(std::memory_order_relaxed); }

size_t LatencySketch::bucket_index(double seconds) const {
  // Also catches NaN, zero and negative values: they count in bucket 0.
  if (!(seconds > options_.min_value)) return 0;
  if (seconds >= options_.max_value) return buckets_ - 1;
  const double k = std::ceil(std::log(seconds) * inv_log_gamma_) - min_index_offset_;
  if (!(k > 0)) return 0;
  return std::min(static_cast<size_t>(k), buckets_ - 1);
}

double LatencySketch::bucket_value(size_t index) const {
  return 2 * std::exp((static_cast<double>(index) + min_index_offset_) * log_gamma_) / (gamma_ + 1);
}

void LatencySketch::observe(double seconds, uint64_t now_ns) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  const uint32_t slots = options_.age_buckets;
  std::atomic<uint32_t>* all = counts_.load(kRelaxed);  // only this thread stores it
  if (all == nullptr) {
    all = new std::atomic<uint32_t>[slots * buckets_]();
    counts_.store(all, std::memory_order_release);
  }
  const uint64_t epoch = now_ns / window_ns_;
  const size_t slot = epoch % slots;
  Window& w = windows_[slot];
  std::atomic<uint32_t>* counts = all + slot * buckets_;
  if (w.epoch.load(kRelaxed) != epoch) {
    // A stale window (or a fresh one): empty it, then publish the new epoch.
    // A reader that acquires the new epoch sees the zeroed counts.
    const uint32_t hi = w.hi.load(kRelaxed);
    for (uint32_t i = w.lo.load(kRelaxed); i < hi; ++i) counts[i].store(0, kRelaxed);
    w.lo.store(kEmptyLo, kRelaxed);
    w.hi.store(0, kRelaxed);
    w.epoch.store(epoch, std::memory_order_release);
  }
  const auto index = static_cast<uint32_t>(bucket_index(seconds));
  // Single writer: plain load + store instead of a locked read-modify-write.
  counts[index].store(counts[index].load(kRelaxed) + 1, kRelaxed);
  if (index < w.lo.load(kRelaxed)) w.lo.store(index, kRelaxed);
  if (index >= w.hi.load(kRelaxed)) w.hi.store(index + 1, kRelaxed);
  count_.store(count_.load(kRelaxed) + 1, kRelaxed);
  if (seconds > 0) sum_.store(sum_.load(kRelaxed) + seconds, kRelaxed);
}

uint64_t LatencySketch::merge_into(std::vector<uint64_t>& counts, uint64_t now_ns) const {
  if (counts.size() < buckets_) counts.resize(buckets_, 0);
  const std::atomic<uint32_t>* all = counts_.load(std::memory_order_acquire);
  if (all == nullptr) return 0;
  const uint32_t slots = options_.age_buckets;
  const uint64_t now_epoch = now_ns / window_ns_;
  uint64_t total = 0;
  for (uint32_t slot = 0; slot < slots; ++slot) {
    const Window& w = windows_[slot];
    const uint64_t epoch = w.epoch.load(std::memory_order_acquire);
    // Keep the last `slots` epochs up to now; a window slightly ahead of our
    // clock reading (the writer read the clock after us) is current too.
    if (epoch == kNoEpoch || epoch + slots <= now_epoch) continue;
    const uint32_t hi =
        std::min<uint32_t>(w.hi.load(std::memory_order_relaxed), static_cast<uint32_t>(buckets_));
    const std::atomic<uint32_t>* c = all + slot * buckets_;
    for (uint32_t i = w.lo.load(std::memory_order_relaxed); i < hi; ++i) {
      const uint32_t v = c[i].load(std::memory_order_relaxed);
      counts[i] += v;
      total += v;
    }
  }
  return total;
}

uint64_t LatencySketch::total_count() const { return count_.load(std::memory_order_relaxed); }

double LatencySketch::total_sum() const { return sum_.load(std::memory_order_relaxed); }

double LatencySketch::quantile(const std::vector<uint64_t>& counts, uint64_t total,
                               double q) const {
  if (total == 0) return std::numeric_limits<double>::quiet_NaN();
  if (!(q > 0)) q = 0;
  if (q > 1) q = 1;
  const double r = std::ceil(q * static_cast<double>(total));
  const uint64_t rank = std::clamp<uint64_t>(static_cast<uint64_t>(r), 1, total);
  const size_t n = std::min(counts.size(), buckets_);
  uint64_t cumulative = 0;
  size_t last_nonempty = 0;
  for (size_t i = 0; i < n; ++i) {
    if (counts[i] == 0) continue;
    cumulative += counts[i];
    last_nonempty = i;
    if (cumulative >= rank) return bucket_value(i);
  }
  // `total` larger than the counts hold (a caller's mistake): the largest value.
  return cumulative == 0 ? std::numeric_limits<double>::quiet_NaN() : bucket_value(last_nonempty);
}

}  // namespace routemeter
