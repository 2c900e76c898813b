// Exemplar slots written with a sequence lock: see exemplars.hpp.
#include "routemeter/exemplars.hpp"

#include <algorithm>
#include <bit>

namespace routemeter {

// One worker's exemplar for one bucket. All atomics: the writer bumps `seq`
// to odd, writes, bumps it to even; a reader retries while it is odd or
// changed under it. No fences (ThreadSanitizer does not model them): the
// fields are stored with release and loaded with acquire, so a reader that
// sees a new field also sees the odd `seq` stored before it (Boehm, "Can
// seqlocks get along with programming language memory models?", 2012).
struct ExemplarSeries::Slot {
  std::atomic<uint32_t> seq{0};
  std::atomic<uint64_t> high{0};
  std::atomic<uint64_t> low{0};
  std::atomic<uint64_t> value_bits{0};
  std::atomic<uint64_t> end_ns{0};
};

ExemplarSeries::ExemplarSeries(size_t workers, const std::vector<double>& bounds)
    : bounds_(bounds),
      workers_(std::max<size_t>(workers, 1)),
      slots_(std::make_unique<Slot[]>(workers_ * (bounds.size() + 1))) {}

ExemplarSeries::~ExemplarSeries() = default;

void ExemplarSeries::observe(size_t worker, double seconds, const TraceId& id, uint64_t end_ns) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  // The histogram's bucket: the first bound at or above the value (le).
  const auto bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin());
  Slot& s = slots_[(worker * buckets()) + bucket];
  constexpr auto kRelease = std::memory_order_release;
  const uint32_t seq = s.seq.load(kRelaxed);  // only this thread writes it
  s.seq.store(seq + 1, kRelaxed);
  s.high.store(id.high, kRelease);
  s.low.store(id.low, kRelease);
  s.value_bits.store(std::bit_cast<uint64_t>(seconds), kRelease);
  s.end_ns.store(end_ns, kRelease);
  s.seq.store(seq + 2, kRelease);
}

std::vector<std::optional<Exemplar>> ExemplarSeries::latest() const {
  std::vector<std::optional<Exemplar>> out(buckets());
  for (size_t w = 0; w < workers_; ++w) {
    for (size_t b = 0; b < buckets(); ++b) {
      const Slot& s = slots_[(w * buckets()) + b];
      // A writer holds a slot for a few stores: a few tries always suffice
      // in practice; a slot still busy after them is skipped this scrape.
      for (int attempt = 0; attempt < 64; ++attempt) {
        constexpr auto kAcquire = std::memory_order_acquire;
        const uint32_t before = s.seq.load(kAcquire);
        if ((before & 1) != 0) continue;
        Exemplar e;
        e.trace_id = TraceId{s.high.load(kAcquire), s.low.load(kAcquire)};
        e.value = std::bit_cast<double>(s.value_bits.load(kAcquire));
        e.end_ns = s.end_ns.load(kAcquire);
        if (s.seq.load(std::memory_order_relaxed) != before) continue;
        if (before != 0 && (!out[b] || e.end_ns > out[b]->end_ns)) out[b] = e;
        break;
      }
    }
  }
  return out;
}

ExemplarFamily::ExemplarFamily(size_t workers, std::vector<double> bounds)
    : workers_(workers), bounds_(std::move(bounds)) {}

ExemplarSeries& ExemplarFamily::add(const prometheus::Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<ExemplarSeries>& series = series_[labels];
  if (!series) series = std::make_shared<ExemplarSeries>(workers_, bounds_);
  return *series;
}

void ExemplarFamily::remove(const ExemplarSeries& series) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(series_, [&](const auto& entry) { return entry.second.get() == &series; });
}

std::shared_ptr<const ExemplarSeries> ExemplarFamily::find(const prometheus::Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? nullptr : it->second;
}

}  // namespace routemeter
