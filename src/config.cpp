// Loading the TOML config (docs/configuration.md) into a validated Config: the
// sections [server], [admin], [metrics] and [log] here, [[upstream]] and
// [[route]] with the checks across them in config_routes.cpp. Every problem
// is collected (file:line:col from toml++'s source regions); nothing stops at
// the first one except a file that is not TOML at all.
#include "routemeter/config.hpp"

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config_reader.hpp"

namespace routemeter {
namespace config_detail {
// Defined in config_routes.cpp.
void read_upstreams_and_routes(ConfigReader& reader, const toml::table& root, Config& config);
// Defined in config_tls.cpp; `config` holds [server] and [admin] already.
void read_tls(ConfigReader& reader, const toml::table& t, const Config& config, TlsConfig& tls);
// Defined in config_push.cpp.
void read_push(ConfigReader& reader, const toml::table& t, PushConfig& push);
}  // namespace config_detail

namespace {

using config_detail::ConfigReader;
using config_detail::position_of;
using config_detail::quoted;

constexpr int64_t kMaxWorkers = 1024;
constexpr int64_t kMaxU32 = 0xffffffff;
constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();
// Each sketch monitors 6 x top_paths paths (top_paths.hpp); 1000 shown per
// route is already more than a page of JSON anyone reads.
constexpr uint32_t kMaxTopPaths = 1000;
// A config file is a few KiB; this only keeps a wrong --config (/dev/zero)
// from eating memory.
constexpr size_t kMaxFileBytes = 16 * 1024 * 1024;

bool is_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

void read_server(ConfigReader& r, const toml::table& t, ServerConfig& server) {
  constexpr std::string_view kPrefix = "server.";
  r.check_keys(t,
               {"listen", "workers", "max_connections", "max_header_bytes", "max_body_bytes",
                "client_header_timeout", "client_body_timeout", "keepalive_timeout",
                "tunnel_idle_timeout", "drain_timeout"},
               kPrefix);
  if (const toml::node* listen = t.get("listen")) {
    r.node_listen_list(*listen, "server.listen", server.listen);
  }
  r.read_unsigned<uint32_t>(t, "workers", kPrefix, 0, kMaxWorkers, server.workers);
  r.read_unsigned<uint64_t>(t, "max_connections", kPrefix, 1, kMaxI64, server.max_connections);
  r.read_size(t, "max_header_bytes", kPrefix, 1, server.max_header_bytes);
  r.read_size(t, "max_body_bytes", kPrefix, 0, server.max_body_bytes);
  r.read_duration(t, "client_header_timeout", kPrefix, false, server.client_header_timeout);
  r.read_duration(t, "client_body_timeout", kPrefix, false, server.client_body_timeout);
  r.read_duration(t, "keepalive_timeout", kPrefix, false, server.keepalive_timeout);
  r.read_duration(t, "tunnel_idle_timeout", kPrefix, false, server.tunnel_idle_timeout);
  r.read_duration(t, "drain_timeout", kPrefix, true, server.drain_timeout);
}

void read_admin(ConfigReader& r, const toml::table& t, AdminConfig& admin) {
  constexpr std::string_view kPrefix = "admin.";
  r.check_keys(t, {"listen", "token", "status_interval"}, kPrefix);
  if (const toml::node* listen = t.get("listen")) {
    r.node_host_port(*listen, "admin.listen", 0, admin.listen);
  }
  std::string token;
  if (r.read_string(t, "token", kPrefix, token)) {
    if (token.empty()) {
      r.error(t.get("token")->source(),
              "admin.token: must not be empty (remove the key to disable authentication)");
    } else {
      admin.token = std::move(token);
    }
  }
  // /status.json keeps 90 points: 100ms (tests) .. 10m (15 hours).
  Duration interval = admin.status_interval;
  if (r.read_duration(t, "status_interval", kPrefix, false, interval)) {
    if (interval < std::chrono::milliseconds(100) || interval > std::chrono::minutes(10)) {
      r.error(t.get("status_interval")->source(),
              "admin.status_interval: must be between 100ms and 10m");
    } else {
      admin.status_interval = interval;
    }
  }
}

void read_quantiles(ConfigReader& r, const toml::node& node, MetricsConfig& metrics) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    r.type_error(node, "metrics.summary_quantiles", "an array of [quantile, error] pairs");
    return;
  }
  std::vector<SummaryQuantile> quantiles;
  bool ok = true;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const std::string what = "metrics.summary_quantiles[" + std::to_string(i) + "]";
    const auto* pair = element.as_array();
    if (pair == nullptr || pair->size() != 2) {
      if (pair == nullptr) {
        r.type_error(element, what, "a [quantile, error] pair");
      } else {
        r.error(element.source(), what + ": expected a [quantile, error] pair, got an array of " +
                                      std::to_string(pair->size()));
      }
      ok = false;
      continue;
    }
    SummaryQuantile q;
    if (!r.node_number(*pair->get(0), what + ".quantile", q.quantile) ||
        !r.node_number(*pair->get(1), what + ".error", q.error)) {
      ok = false;
      continue;
    }
    if (!(q.quantile > 0 && q.quantile < 1)) {
      r.error(pair->get(0)->source(), what + ": quantile must be between 0 and 1 (exclusive)");
      ok = false;
    }
    if (!(q.error > 0 && q.error < 1)) {
      r.error(pair->get(1)->source(), what + ": error must be between 0 and 1 (exclusive)");
      ok = false;
    }
    for (const SummaryQuantile& seen : quantiles) {
      if (seen.quantile == q.quantile) {
        r.error(element.source(), what + ": quantile is listed twice");
        ok = false;
      }
    }
    quantiles.push_back(q);
  }
  if (ok) metrics.summary_quantiles = std::move(quantiles);
}

void read_metrics(ConfigReader& r, const toml::table& t, MetricsConfig& metrics) {
  constexpr std::string_view kPrefix = "metrics.";
  r.check_keys(t,
               {"namespace", "histogram_buckets", "summary_quantiles", "summary_max_age",
                "summary_age_buckets", "per_server", "top_paths", "max_series", "exemplars"},
               kPrefix);
  std::string name_space;
  if (r.read_string(t, "namespace", kPrefix, name_space)) {
    if (is_metric_name(name_space)) {
      metrics.name_space = std::move(name_space);
    } else {
      r.error(t.get("namespace")->source(),
              "metrics.namespace: must be a metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*), got " +
                  quoted(name_space));
    }
  }
  if (const toml::array* array = r.read_array(t, "histogram_buckets", kPrefix)) {
    std::vector<double> buckets;
    bool ok = true;
    if (array->empty()) {
      r.error(t.get("histogram_buckets")->source(),
              "metrics.histogram_buckets: needs at least one bucket");
      ok = false;
    }
    for (size_t i = 0; i < array->size(); ++i) {
      const std::string what = "metrics.histogram_buckets[" + std::to_string(i) + "]";
      double bound = 0;
      if (!r.node_number(*array->get(i), what, bound)) {
        ok = false;
        continue;
      }
      if (!buckets.empty() && !(bound > buckets.back())) {
        r.error(array->get(i)->source(), what + ": buckets must be strictly increasing");
        ok = false;
      }
      buckets.push_back(bound);
    }
    if (ok) metrics.histogram_buckets = std::move(buckets);
  }
  if (const toml::node* node = t.get("summary_quantiles")) read_quantiles(r, *node, metrics);
  r.read_duration(t, "summary_max_age", kPrefix, false, metrics.summary_max_age);
  r.read_unsigned<uint32_t>(t, "summary_age_buckets", kPrefix, 1, kMaxU32,
                            metrics.summary_age_buckets);
  r.read_bool(t, "per_server", kPrefix, metrics.per_server);
  r.read_unsigned<uint32_t>(t, "top_paths", kPrefix, 0, kMaxTopPaths, metrics.top_paths);
  r.read_bool(t, "exemplars", kPrefix, metrics.exemplars);
  r.read_unsigned<uint64_t>(t, "max_series", kPrefix, 1, kMaxI64, metrics.max_series);
  const toml::node* max_series = t.get("max_series");
  metrics.max_series_position =
      position_of(max_series != nullptr ? max_series->source() : t.source());
}

void read_log(ConfigReader& r, const toml::table& t, LogConfig& log) {
  constexpr std::string_view kPrefix = "log.";
  r.check_keys(t, {"access", "format", "level"}, kPrefix);
  std::string access;
  if (r.read_string(t, "access", kPrefix, access)) {
    if (access.empty()) {
      r.error(t.get("access")->source(), "log.access: must be \"off\", \"stdout\" or a file path");
    } else {
      log.access = std::move(access);
    }
  }
  std::string format;
  if (r.read_string(t, "format", kPrefix, format)) {
    if (format == "json") {
      log.format = LogFormat::kJson;
    } else if (format == "combined") {
      log.format = LogFormat::kCombined;
    } else {
      r.error(t.get("format")->source(),
              "log.format: must be \"json\" or \"combined\", got " + quoted(format));
    }
  }
  std::string level;
  if (r.read_string(t, "level", kPrefix, level)) {
    if (level == "debug") {
      log.level = LogLevel::kDebug;
    } else if (level == "info") {
      log.level = LogLevel::kInfo;
    } else if (level == "warn") {
      log.level = LogLevel::kWarn;
    } else if (level == "error") {
      log.level = LogLevel::kError;
    } else {
      r.error(
          t.get("level")->source(),
          "log.level: must be \"debug\", \"info\", \"warn\" or \"error\", got " + quoted(level));
    }
  }
}

void read_root(ConfigReader& r, const toml::table& root, Config& config) {
  for (const auto& [key, node] : root) {
    const std::string_view name = key.str();
    const bool section = name == "server" || name == "tls" || name == "admin" ||
                         name == "metrics" || name == "push" || name == "log";
    if (section) {
      if (!node.is_table()) r.type_error(node, name, "a table");
    } else if (name == "upstream" || name == "route") {
      continue;  // config_routes.cpp
    } else if (node.is_table()) {
      r.error(key.source(), "[" + std::string(name) +
                                "]: unknown table (expected server, tls, admin, metrics, "
                                "push, log, [[upstream]] or [[route]])");
    } else {
      r.error(key.source(), std::string(name) + ": unknown key (top-level keys belong in a table)");
    }
  }
  if (const auto* t = root["server"].as_table()) read_server(r, *t, config.server);
  if (const auto* t = root["admin"].as_table()) read_admin(r, *t, config.admin);
  if (const auto* t = root["metrics"].as_table()) read_metrics(r, *t, config.metrics);
  if (const auto* t = root["log"].as_table()) read_log(r, *t, config.log);
  if (const auto* t = root["push"].as_table()) {
    config.push.emplace();
    config_detail::read_push(r, *t, *config.push);
  }
  if (const auto* t = root["tls"].as_table()) {
    config.tls.emplace();
    config_detail::read_tls(r, *t, config, *config.tls);
  }
  config_detail::read_upstreams_and_routes(r, root, config);
}

}  // namespace

ConfigLoadResult parse_config(std::string_view toml_text, std::string_view source_path) {
  ConfigReader reader{std::string(source_path)};
  toml::table root;
#if TOML_EXCEPTIONS
  try {
    root = toml::parse(toml_text, std::string(source_path));
  } catch (const toml::parse_error& e) {
    reader.error(e.source(), "invalid TOML: " + std::string(e.description()));
    return ConfigLoadResult{nullptr, reader.take_errors(), {}};
  }
#else
  toml::parse_result parsed = toml::parse(toml_text, std::string(source_path));
  if (!parsed) {
    reader.error(parsed.error().source(),
                 "invalid TOML: " + std::string(parsed.error().description()));
    return ConfigLoadResult{nullptr, reader.take_errors(), {}};
  }
  root = std::move(parsed).table();
#endif
  auto config = std::make_shared<Config>();
  config->source_path = std::string(source_path);
  read_root(reader, root, *config);
  std::vector<ConfigError> warnings = reader.take_warnings();
  if (reader.has_errors()) {
    return ConfigLoadResult{nullptr, reader.take_errors(), std::move(warnings)};
  }
  return ConfigLoadResult{std::move(config), {}, std::move(warnings)};
}

ConfigLoadResult load_config_file(const std::string& path) {
  auto fail = [&](std::string message) {
    return ConfigLoadResult{nullptr, {ConfigError{path, {}, std::move(message)}}, {}};
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(std::string("cannot open: ") + std::strerror(errno));
  std::string text;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) return fail("file is larger than 16 MiB");
  }
  if (in.bad()) return fail(std::string("cannot read: ") + std::strerror(errno));
  return parse_config(text, path);
}

}  // namespace routemeter
