// The series bound (docs/metrics.md, "The series bound"): for a config, the
// worst-case number of series each metric family can ever expose, whatever
// the traffic, and their total. A config whose total exceeds
// [metrics] max_series is refused (check_series_bound: --check-config, start
// and reload), and --check-config prints the table. Every label value is either from the config or
// from a fixed list; the one input that is not, the status code, is folded here: a code outside the
// IANA registry (and routemeter's own 499) is counted as its class.
//
// A metric family added to routemeter must be added to series_bound() too:
// tests/integration/series_bound_test.cpp fails on any family of /metrics
// that the table does not name. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/config.hpp"

namespace routemeter {

// The statuses `code` can hold: 63 registered by IANA (as of 2022), 499, and
// one folded value per class for the rest of 100-599.
constexpr size_t kCodeLabelValues = 63 + 1 + 5;

// Whether `status` is in the IANA HTTP Status Code Registry (or is 499).
bool is_registered_status(int status);
// The key a status is counted under: the status itself when registered,
// else its class (1 for 1xx ... 5xx); statuses outside 100-599 count as 5.
int status_code_key(int status);
// The `code` label value of a key: "404", or "5xx" for a folded class.
std::string code_label(int key);

struct FamilyBound {
  std::string name;  // as exposed, with the namespace
  uint64_t series = 0;
  std::string why;  // how the number comes about, for --check-config
};

// Every family routemeter exposes with this config, in /metrics order, and
// the worst case of each.
std::vector<FamilyBound> series_bound(const Config& config);
uint64_t total_series(const std::vector<FamilyBound>& bound);
// The error for a config whose total exceeds [metrics] max_series (at the
// max_series key, or the [metrics] table, or the file); nullopt when within.
// --check-config and every load (start, reload) refuse such a config.
std::optional<ConfigError> check_series_bound(const Config& config);
// The table --check-config prints: one line per family, then the total and
// the limit.
std::string format_series_bound(const std::vector<FamilyBound>& bound, uint64_t max_series);

}  // namespace routemeter
