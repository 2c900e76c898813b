// Space-Saving with a hash index and the Stream-Summary of counts: a path
// costs a hash, a probe or two and a move to the next count group, whether it
// is monitored already or replaces a least counted one. See path_sketch.hpp.
#include "routemeter/path_sketch.hpp"

#include <algorithm>
#include <bit>
#include <functional>

#include "routemeter/request_record.hpp"

namespace routemeter {
namespace {

constexpr unsigned kFirstOctave = 16;  // 2^16 ns: below it, bucket 0
constexpr unsigned kOctaves = 21;      // 2^16 .. 2^37 ns
constexpr unsigned kSubBuckets = 4;    // per octave
constexpr uint32_t kEmptyCell = 0;

constexpr uint32_t make_cell(uint64_t hash, size_t slot) {
  return (static_cast<uint32_t>(hash & 0xffff) << 16) | static_cast<uint32_t>(slot + 1);
}
constexpr size_t cell_slot(uint32_t cell) { return (cell & 0xffff) - 1; }
constexpr size_t cell_home(uint32_t cell, size_t mask) { return (cell >> 16) & mask; }

}  // namespace

size_t path_latency_bucket(uint64_t duration_ns) {
  if (duration_ns < (uint64_t{1} << kFirstOctave)) return 0;
  const unsigned octave = 63 - static_cast<unsigned>(std::countl_zero(duration_ns));
  if (octave >= kFirstOctave + kOctaves) return kPathLatencyBuckets - 1;
  // The two bits after the leading one: which quarter of the octave.
  const auto sub = static_cast<unsigned>((duration_ns >> (octave - 2)) & (kSubBuckets - 1));
  return 1 + ((octave - kFirstOctave) * kSubBuckets) + sub;
}

double path_latency_bucket_seconds(size_t bucket) {
  if (bucket == 0) return static_cast<double>(uint64_t{1} << (kFirstOctave - 1)) * 1e-9;
  const size_t octave = kFirstOctave + ((bucket - 1) / kSubBuckets);
  const size_t sub = (bucket - 1) % kSubBuckets;
  // [2^o * (1 + sub/4), 2^o * (1 + (sub+1)/4)): its middle.
  const auto low = static_cast<double>(uint64_t{1} << octave);
  return low * (1.0 + ((static_cast<double>(sub) + 0.5) / kSubBuckets)) * 1e-9;
}

PathSketch::PathSketch(size_t capacity)
    : capacity_(std::clamp<size_t>(capacity, 1, kMaxCapacity)),
      entries_(std::make_unique<Entry[]>(capacity_)),
      links_(std::make_unique<Links[]>(capacity_)),
      groups_(std::make_unique<Group[]>(capacity_)) {
  const size_t cells = std::bit_ceil(capacity_ * 2);
  index_ = std::make_unique<uint32_t[]>(cells);
  index_mask_ = cells - 1;
  clear();
}

PathSketch::~PathSketch() = default;

size_t PathSketch::memory_bytes() const {
  return sizeof(*this) + (capacity_ * (sizeof(Entry) + sizeof(Links) + sizeof(Group))) +
         ((index_mask_ + 1) * sizeof(uint32_t));
}

void PathSketch::clear() {
  size_ = 0;
  total_ = 0;
  std::fill_n(index_.get(), index_mask_ + 1, kEmptyCell);
  min_group_ = kNone;
  free_group_ = 0;
  for (size_t g = 0; g < capacity_; ++g) {
    groups_[g].next = g + 1 < capacity_ ? static_cast<uint16_t>(g + 1) : kNone;
  }
}

uint32_t* PathSketch::find_index(uint64_t hash, std::string_view path) {
  const auto tag = static_cast<uint32_t>(hash & 0xffff);
  for (size_t i = hash & index_mask_;; i = (i + 1) & index_mask_) {
    uint32_t& cell = index_[i];
    if (cell == kEmptyCell) return nullptr;
    if ((cell >> 16) != tag) continue;
    const Entry& e = entries_[cell_slot(cell)];
    if (e.hash == hash && e.view() == path) return &cell;
  }
}

void PathSketch::index_insert(uint64_t hash, uint16_t slot) {
  size_t i = hash & index_mask_;
  while (index_[i] != kEmptyCell) i = (i + 1) & index_mask_;
  index_[i] = make_cell(hash, slot);
}

// Linear probing without tombstones: after emptying a cell, move back every
// later cell of the run that may sit in it (Knuth's algorithm R).
void PathSketch::index_erase(uint64_t hash, uint16_t slot) {
  const uint32_t erased = make_cell(hash, slot);
  size_t i = hash & index_mask_;
  while (index_[i] != erased) i = (i + 1) & index_mask_;
  index_[i] = kEmptyCell;
  for (size_t j = (i + 1) & index_mask_; index_[j] != kEmptyCell; j = (j + 1) & index_mask_) {
    const size_t home = cell_home(index_[j], index_mask_);
    // Cell j may move to the hole i unless its home lies cyclically in (i, j].
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    index_[i] = index_[j];
    index_[j] = kEmptyCell;
    i = j;
  }
}

uint16_t PathSketch::new_group(uint32_t count, uint16_t prev, uint16_t next) {
  // Never empty: there are as many groups as entries, and a group is free
  // whenever no entry is in it.
  const uint16_t g = free_group_;
  free_group_ = groups_[g].next;
  groups_[g] = Group{count, kNone, prev, next};
  if (prev != kNone) {
    groups_[prev].next = g;
  } else {
    min_group_ = g;
  }
  if (next != kNone) groups_[next].prev = g;
  return g;
}

void PathSketch::attach(uint16_t slot, uint16_t group) {
  Links& l = links_[slot];
  Group& g = groups_[group];
  l = Links{group, kNone, g.first};
  if (g.first != kNone) links_[g.first].prev = slot;
  g.first = slot;
  entries_[slot].count = g.count;
}

void PathSketch::detach(uint16_t slot) {
  const Links l = links_[slot];
  Group& g = groups_[l.group];
  if (l.prev != kNone) {
    links_[l.prev].next = l.next;
  } else {
    g.first = l.next;
  }
  if (l.next != kNone) links_[l.next].prev = l.prev;
  if (g.first != kNone) return;
  // The group is empty: out of the count list, onto the free list.
  if (g.prev != kNone) {
    groups_[g.prev].next = g.next;
  } else {
    min_group_ = g.next;
  }
  if (g.next != kNone) groups_[g.next].prev = g.prev;
  g.next = free_group_;
  free_group_ = l.group;
}

void PathSketch::increment(uint16_t slot) {
  const uint16_t from = links_[slot].group;
  const uint32_t count = groups_[from].count + 1;
  const uint16_t next = groups_[from].next;
  if (next != kNone && groups_[next].count == count) {
    detach(slot);  // may free `from`; `next` stays where it is
    attach(slot, next);
  } else if (groups_[from].first == slot && links_[slot].next == kNone) {
    groups_[from].count = count;  // alone: the group moves up with it
    entries_[slot].count = count;
  } else {
    const uint16_t to = new_group(count, from, next);
    detach(slot);  // `from` keeps its other entries
    attach(slot, to);
  }
}

void PathSketch::observe(std::string_view path, bool truncated, bool is_5xx, uint64_t duration_ns) {
  if (path.size() > kMaxPathBytes) {
    path = path.substr(0, kMaxPathBytes);
    truncated = true;
  }
  ++total_;
  const uint64_t hash = std::hash<std::string_view>()(path);
  size_t slot = 0;
  bool placed = true;
  if (const uint32_t* cell = find_index(hash, path)) {
    placed = false;
    slot = cell_slot(*cell);
    increment(static_cast<uint16_t>(slot));
  } else if (size_ < capacity_) {
    slot = size_++;
    const auto s16 = static_cast<uint16_t>(slot);
    if (min_group_ != kNone && groups_[min_group_].count == 1) {
      attach(s16, min_group_);
    } else {
      attach(s16, new_group(1, kNone, min_group_));
    }
    entries_[slot].error = 0;
  } else {
    // Space-Saving: the path takes the place of a least counted one and
    // inherits its count, which bounds how often it may have been missed.
    slot = groups_[min_group_].first;
    Entry& e = entries_[slot];
    index_erase(e.hash, static_cast<uint16_t>(slot));
    e.error = e.count;
    increment(static_cast<uint16_t>(slot));
  }
  Entry& e = entries_[slot];
  if (placed) {
    e.hash = hash;
    e.size = static_cast<uint16_t>(path.size());
    e.truncated = truncated;
    copy_short(e.path, path);  // not memcpy: see copy_short
    e.count_5xx = 0;
    e.latency.fill(0);
    index_insert(hash, static_cast<uint16_t>(slot));
  }
  e.truncated = e.truncated || truncated;
  if (is_5xx) ++e.count_5xx;
  uint16_t& bucket = e.latency[path_latency_bucket(duration_ns)];
  if (++bucket == UINT16_MAX) {
    for (uint16_t& b : e.latency) b = static_cast<uint16_t>((b + 1u) / 2u);
  }
}

}  // namespace routemeter
