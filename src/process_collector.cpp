#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "routemeter/collectors.hpp"

namespace routemeter {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

std::optional<uint64_t> to_u64(std::string_view s) {
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Entries of a directory except "." and ".."; -1 when it cannot be read.
int64_t count_entries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int64_t n = 0;
  while (const dirent* e = readdir(d)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") ++n;
  }
  closedir(d);
  // Like the Go and Python clients, this counts the descriptor opendir()
  // itself holds while reading /proc/self/fd.
  return n;
}

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  // "pid (comm) state ppid ...": comm may hold anything, so fields start
  // after the LAST ')'. Field 3 (state) is token 0 from there.
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  std::vector<std::string_view> tokens;
  while (!rest.empty() && tokens.size() < 22) {
    const size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    tokens.push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
  if (tokens.size() < 22) return std::nullopt;
  auto field = [&](int n) { return to_u64(tokens[static_cast<size_t>(n - 3)]); };
  const auto utime = field(14), stime = field(15), start = field(22), vsize = field(23),
             rss = field(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  return ProcStat{*utime, *stime, *start, *vsize, *rss};
}

std::optional<uint64_t> parse_boot_time(std::string_view text) {
  constexpr std::string_view kKey = "btime ";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    if (line.substr(0, kKey.size()) == kKey) return to_u64(line.substr(kKey.size()));
    pos = eol + 1;
  }
  return std::nullopt;
}

ProcessCollector::ProcessCollector(std::string proc_root) : proc_root_(std::move(proc_root)) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto page = static_cast<double>(sysconf(_SC_PAGESIZE));

  std::optional<ProcStat> stat;
  if (auto text = read_file(proc_root_ + "/self/stat")) stat = parse_proc_stat(*text);
  if (stat) {
    out.push_back(family("process_cpu_seconds_total",
                         "Total user and system CPU time spent in seconds.", MetricType::Counter,
                         static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks));
  }
  if (const int64_t fds = count_entries(proc_root_ + "/self/fd"); fds >= 0) {
    out.push_back(family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
                         static_cast<double>(fds)));
  }
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                         MetricType::Gauge, static_cast<double>(rl.rlim_cur)));
  }
  if (stat) {
    out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                         MetricType::Gauge, static_cast<double>(stat->vsize_bytes)));
    out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                         MetricType::Gauge, static_cast<double>(stat->rss_pages) * page));
    std::optional<uint64_t> boot;
    if (auto text = read_file(proc_root_ + "/stat")) boot = parse_boot_time(*text);
    if (boot) {
      out.push_back(
          family("process_start_time_seconds",
                 "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                 static_cast<double>(*boot) + static_cast<double>(stat->start_ticks) / ticks));
    }
  }
  return out;
}

}  // namespace routemeter
