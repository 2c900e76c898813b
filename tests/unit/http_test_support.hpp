// Helpers shared by the HTTP parser tests (tests/unit/http_*_test.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "routemeter/http.hpp"

namespace routemeter::http::test {

// The name of a ParseStatus, for readable Catch2 failures.
inline std::string_view status_name(ParseStatus s) {
  switch (s) {
    case ParseStatus::kComplete:
      return "complete";
    case ParseStatus::kIncomplete:
      return "incomplete";
    case ParseStatus::kError:
      return "error";
  }
  return "?";
}

// Whether `view` lies inside [base, base + len) (or is empty).
inline bool within(std::string_view view, const char* base, size_t len) {
  if (view.empty()) return true;
  return view.data() >= base && view.data() + view.size() <= base + len;
}

// A small deterministic PRNG (xorshift64*) so fuzz tests replay exactly.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed ? seed : 1) {}
  uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1DULL;
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }

 private:
  uint64_t state_;
};

// Applies one random edit to `s`: flip, insert or delete a byte, or insert one
// of the bytes that matter to HTTP framing.
inline void mutate(std::string& s, Rng& rng) {
  static constexpr std::string_view kInteresting("\r\n\0 \t:;,\x7f\x80\xff-0/?#@", 17);
  const size_t pos = rng.below(s.size() + 1);
  switch (rng.below(4)) {
    case 0:
      if (pos < s.size()) s[pos] = static_cast<char>(rng.below(256));
      break;
    case 1:
      s.insert(pos, 1, static_cast<char>(rng.below(256)));
      break;
    case 2:
      if (pos < s.size()) s.erase(pos, 1);
      break;
    default:
      s.insert(pos, 1, kInteresting[rng.below(kInteresting.size())]);
      break;
  }
}

}  // namespace routemeter::http::test
