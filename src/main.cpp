// routemeter: the command line (docs/operations.md, "Command line").
// Everything else lives in the core library.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/build_info.hpp"
#include "routemeter/cardinality.hpp"
#include "routemeter/config.hpp"
#include "routemeter/server.hpp"
#include "routemeter/top.hpp"
#include "routemeter/versions.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/routemeter/routemeter.toml";

void usage(std::ostream& out) {
  out << "usage: routemeter [--config PATH]                 run the proxy\n"
         "       routemeter --check-config [--config PATH]  validate the config, exit 0/1\n"
         "       routemeter --version                       version and library versions\n"
         "       routemeter top [--admin HOST:PORT] [--token-file F] [--sort rate|errors]\n"
         "                      [--once] [--interval S]     live RED table from /status.json\n"
         "                                                  (routemeter top --help)\n"
         "default config: "
      << kDefaultConfig << "\n";
}

int check_config(const std::string& path) {
  routemeter::ConfigLoadResult res = routemeter::load_config_file(path);
  for (const auto& w : res.warnings) std::cerr << "warning: " << w.to_string() << "\n";
  if (!res.ok()) {
    for (const auto& e : res.errors) std::cerr << e.to_string() << "\n";
    return 1;
  }
  const std::vector<routemeter::FamilyBound> bound = routemeter::series_bound(*res.config);
  const std::string table = routemeter::format_series_bound(bound, res.config->metrics.max_series);
  if (auto too_many = routemeter::check_series_bound(*res.config)) {
    std::cerr << too_many->to_string() << "\n" << table;
    return 1;
  }
  std::cout << path << ": ok\n" << table;
  return 0;
}

void print_version() {
  std::cout << "routemeter " << routemeter::build::kVersion << " (revision "
            << routemeter::build::kRevision << ", built " << routemeter::build::kDate << ")\n";
  for (const routemeter::LibraryVersion& lib : routemeter::library_versions()) {
    std::cout << lib.name << " " << lib.version << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "top") == 0) {
    std::signal(SIGPIPE, SIG_IGN);
    return routemeter::run_top(std::vector<std::string_view>(argv + 2, argv + argc), std::cout,
                               std::cerr);
  }
  std::string config = kDefaultConfig;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--config") == 0 && i + 1 < argc) {
      config = argv[++i];
    } else if (std::strncmp(a, "--config=", 9) == 0) {
      config = a + 9;
    } else if (std::strcmp(a, "--check-config") == 0) {
      check = true;
    } else if (std::strcmp(a, "--version") == 0) {
      print_version();
      return 0;
    } else if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0) {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "routemeter: unknown argument: " << a << "\n";
      usage(std::cerr);
      return 2;
    }
  }
  if (check) return check_config(config);
  std::signal(SIGPIPE, SIG_IGN);
  routemeter::Server server(config);
  return server.run();
}
