// ProcessCollector (on the real /proc and on a fake tree with known values)
// and BuildInfoCollector.
#include "routemeter/collectors.hpp"

#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace routemeter {
namespace {

std::map<std::string, const prometheus::MetricFamily*> by_name(
    const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, const prometheus::MetricFamily*> out;
  for (const auto& f : families) out[f.name] = &f;
  return out;
}

double value_of(const prometheus::MetricFamily& f) {
  REQUIRE(f.metric.size() == 1);
  CHECK(f.metric[0].label.empty());
  return f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                   : f.metric[0].gauge.value;
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// A /proc/<pid>/stat line: pid, comm, then fields 3..52. Field n = value n
// except the ones the collector reads.
std::string stat_line(const std::string& comm, uint64_t utime, uint64_t stime, uint64_t start,
                      uint64_t vsize, uint64_t rss) {
  std::string s = "4242 (" + comm + ") S";
  for (int n = 4; n <= 52; ++n) {
    uint64_t v = static_cast<uint64_t>(n);
    if (n == 14) v = utime;
    if (n == 15) v = stime;
    if (n == 22) v = start;
    if (n == 23) v = vsize;
    if (n == 24) v = rss;
    s += " " + std::to_string(v);
  }
  return s + "\n";
}

}  // namespace

TEST_CASE("parse_proc_stat reads fields 14, 15, 22, 23 and 24 after the command name",
          "[collectors]") {
  const auto st = parse_proc_stat(stat_line("a) (b c)", 150, 50, 123456, 987654321, 2048));
  REQUIRE(st.has_value());
  CHECK(st->utime_ticks == 150);
  CHECK(st->stime_ticks == 50);
  CHECK(st->start_ticks == 123456);
  CHECK(st->vsize_bytes == 987654321);
  CHECK(st->rss_pages == 2048);

  const char* bad[] = {"", "4242 routemeter S 1 2 3", "4242 (x) S 1 2 3 4 5",
                       "4242 (x) S 4 5 6 7 8 9 10 11 12 13 x 15 16 17 18 19 20 21 22 23 24"};
  for (const char* text : bad) {
    INFO(text);
    CHECK_FALSE(parse_proc_stat(text).has_value());
  }
}

TEST_CASE("parse_boot_time reads the btime line of /proc/stat", "[collectors]") {
  CHECK(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n") == 1700000000u);
  CHECK(parse_boot_time("btime 17") == 17u);
  CHECK_FALSE(parse_boot_time("cpu 1 2\nxbtime 5\n").has_value());
  CHECK_FALSE(parse_boot_time("btime x\n").has_value());
}

TEST_CASE("ProcessCollector turns a /proc tree into the standard process metrics", "[collectors]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("routemeter-proc-" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "self" / "fd");
  const uint64_t tck = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  write_file(root / "self" / "stat",
             stat_line("routemeter", 3 * tck, tck / 2 * 3, 100 * tck, 123456789, 1000));
  for (int fd = 0; fd < 7; ++fd) write_file(root / "self" / "fd" / std::to_string(fd), "");
  write_file(root / "stat", "cpu  1 2 3 4\nbtime 1700000000\n");

  const auto families = ProcessCollector(root.string()).Collect();
  const auto m = by_name(families);
  REQUIRE(m.size() == 6);
  rlimit rl{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  CHECK(value_of(*m.at("process_cpu_seconds_total")) == 4.5);
  CHECK(value_of(*m.at("process_open_fds")) == 7);
  CHECK(value_of(*m.at("process_max_fds")) == static_cast<double>(rl.rlim_cur));
  CHECK(value_of(*m.at("process_virtual_memory_bytes")) == 123456789);
  CHECK(value_of(*m.at("process_resident_memory_bytes")) == static_cast<double>(1000 * page));
  CHECK(value_of(*m.at("process_start_time_seconds")) == 1700000100);
  fs::remove_all(root);
}

TEST_CASE("ProcessCollector leaves out what /proc cannot give", "[collectors]") {
  const auto m = by_name(ProcessCollector("/nonexistent-proc").Collect());
  REQUIRE(m.size() == 1);  // only getrlimit() still answers
  CHECK(m.count("process_max_fds") == 1);
}

TEST_CASE("ProcessCollector reports plausible values for this process", "[collectors]") {
  const auto families = ProcessCollector().Collect();
  const auto m = by_name(families);
  struct Row {
    const char* name;
    prometheus::MetricType type;
    const char* help;
  };
  const Row rows[] = {
      {"process_cpu_seconds_total", prometheus::MetricType::Counter,
       "Total user and system CPU time spent in seconds."},
      {"process_open_fds", prometheus::MetricType::Gauge, "Number of open file descriptors."},
      {"process_max_fds", prometheus::MetricType::Gauge,
       "Maximum number of open file descriptors."},
      {"process_virtual_memory_bytes", prometheus::MetricType::Gauge,
       "Virtual memory size in bytes."},
      {"process_resident_memory_bytes", prometheus::MetricType::Gauge,
       "Resident memory size in bytes."},
      {"process_start_time_seconds", prometheus::MetricType::Gauge,
       "Start time of the process since unix epoch in seconds."},
  };
  REQUIRE(families.size() == std::size(rows));
  for (const Row& r : rows) {
    INFO(r.name);
    REQUIRE(m.count(r.name) == 1);
    CHECK(m.at(r.name)->type == r.type);
    CHECK(m.at(r.name)->help == r.help);
  }
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = value_of(*m.at("process_start_time_seconds"));
  CHECK(start <= now + 1);
  CHECK(start >= now - 3600);
  CHECK(value_of(*m.at("process_open_fds")) >= 3);
  CHECK(value_of(*m.at("process_max_fds")) >= value_of(*m.at("process_open_fds")));
  CHECK(value_of(*m.at("process_resident_memory_bytes")) > 0);
  CHECK(value_of(*m.at("process_virtual_memory_bytes")) >=
        value_of(*m.at("process_resident_memory_bytes")));
  CHECK(value_of(*m.at("process_cpu_seconds_total")) >= 0);
}

TEST_CASE("BuildInfoCollector exposes <namespace>_build_info 1 with version and revision",
          "[collectors]") {
  BuildInfoCollector c("routemeter", "0.1.0", "abc123def456");
  prometheus::TextSerializer serializer;
  CHECK(serializer.Serialize(c.Collect()) ==
        "# HELP routemeter_build_info A metric with a constant '1' value labeled by version and "
        "revision from which routemeter was built.\n"
        "# TYPE routemeter_build_info gauge\n"
        "routemeter_build_info{revision=\"abc123def456\",version=\"0.1.0\"} 1\n");
  CHECK(BuildInfoCollector("acme", "1", "r").Collect().at(0).name == "acme_build_info");
}

}  // namespace routemeter
