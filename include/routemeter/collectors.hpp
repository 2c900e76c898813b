// Scrape-time collectors (prometheus::Collectable): values computed when
// /metrics is rendered, not kept up to date by the request path.
//
// ProcessCollector: the standard process metrics (the names and help texts of
// the Go and Java clients' process collectors, no namespace prefix) read from
// /proc: process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds. A value /proc cannot give is left out of the
// scrape (no exception). Stateless: any thread may call Collect().
//
// BuildInfoCollector: `<namespace>_build_info{version="...",revision="..."} 1`.
// Immutable after construction: any thread may call Collect().
//
// Both are owned by whoever registers them (a shared_ptr handed to
// prometheus::Registry::RegisterCollectable or Metrics::add_collectable).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace routemeter {

// The fields of /proc/<pid>/stat the process collector uses, in the units of
// that file (clock ticks, bytes, pages).
struct ProcStat {
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t start_ticks = 0;  // since boot
  uint64_t vsize_bytes = 0;
  uint64_t rss_pages = 0;
};
// Parses the text of /proc/<pid>/stat (the command name may hold spaces and
// parentheses); nullopt when it is malformed.
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// The `btime` line of /proc/stat: boot time in seconds since the epoch.
std::optional<uint64_t> parse_boot_time(std::string_view proc_stat_text);

class ProcessCollector : public prometheus::Collectable {
 public:
  // `proc_root`: where procfs is mounted; tests point it at a fake tree
  // holding self/stat, self/fd/ and stat.
  explicit ProcessCollector(std::string proc_root = "/proc");
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string proc_root_;
};

class BuildInfoCollector : public prometheus::Collectable {
 public:
  BuildInfoCollector(const std::string& name_space, std::string version, std::string revision);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string name_;
  std::string version_;
  std::string revision_;
};

}  // namespace routemeter
