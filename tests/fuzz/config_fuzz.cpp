// libFuzzer target: parse_config (src/config*.cpp), the loader behind
// load_config_file() and `routemeter --check-config`, with toml++ compiled in
// and instrumented (tests/fuzz/CMakeLists.txt). Run by scripts/fuzz.sh.
//
// Known toml++ 3.3.0 defects are reported once and otherwise let through:
// tests/fuzz/toml_known_defects.hpp (force-included) explains how.
//
// Besides crashes and sanitizer reports, it aborts when the loader breaks its
// contract: either a config or errors, never both; every error names the file,
// has a message and, for TOML syntax errors, a line and column; errors come
// sorted by position; a valid config is consistent (routes point at existing
// upstreams) and renders as JSON.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "routemeter/config.hpp"

namespace {

constexpr std::string_view kSourcePath = "fuzz.toml";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  routemeter_fuzz::current_input = text.data();  // toml_known_defects.hpp's survey mode
  routemeter_fuzz::current_input_size = text.size();
  const routemeter::ConfigLoadResult result = routemeter::parse_config(text, kSourcePath);
  FUZZ_REQUIRE(result.ok() == result.errors.empty());
  if (!result.ok()) {
    routemeter::SourcePosition last;
    for (const routemeter::ConfigError& e : result.errors) {
      FUZZ_REQUIRE(e.file == kSourcePath);
      FUZZ_REQUIRE(!e.message.empty());
      FUZZ_REQUIRE((e.position.line == 0) == (e.position.column == 0));
      if (e.message.starts_with("invalid TOML: ")) {
        FUZZ_REQUIRE(e.position.line > 0);
        FUZZ_REQUIRE(result.errors.size() == 1);
      }
      FUZZ_REQUIRE(e.position.line > last.line ||
                   (e.position.line == last.line && e.position.column >= last.column));
      last = e.position;
      const std::string line = e.to_string();
      FUZZ_REQUIRE(line.starts_with(std::string(kSourcePath) + ":"));
    }
    return 0;
  }
  const routemeter::Config& config = *result.config;
  FUZZ_REQUIRE(config.source_path == kSourcePath);
  for (const routemeter::RouteConfig& route : config.routes) {
    FUZZ_REQUIRE(route.upstream_index < config.upstreams.size());
    FUZZ_REQUIRE(config.upstreams[route.upstream_index].name == route.upstream);
  }
  for (const routemeter::UpstreamConfig& upstream : config.upstreams) {
    FUZZ_REQUIRE(!upstream.servers.empty());
  }
  const std::string json = routemeter::config_to_json(config);
  const size_t last = json.find_last_not_of(" \n");
  FUZZ_REQUIRE(json.starts_with("{") && last != std::string::npos && json[last] == '}');
  return 0;
}
