// The routemeter configuration: plain immutable structs parsed once from TOML
// (docs/configuration.md), validated, then compiled into what the data path needs
// (router, upstream pools, metric handles). The data path never sees TOML.
//
// A Config is built by load_config_file()/parse_config() and then only read:
// it is shared between threads as std::shared_ptr<const Config>.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "routemeter/retry_policy.hpp"

namespace routemeter {

using Duration = std::chrono::milliseconds;

// Where a value came from in the config file; line/column are 1-based, 0 = unknown.
struct SourcePosition {
  uint32_t line = 0;
  uint32_t column = 0;
};

// One "host:port" or "[v6]:port" endpoint: a listener or an upstream server.
struct HostPort {
  std::string host;  // without brackets: "127.0.0.1", "::1", "localhost"
  uint16_t port = 0;
  std::string text() const;  // "127.0.0.1:80", "[::1]:80"
  bool operator==(const HostPort&) const = default;
};

struct ServerConfig {
  std::vector<HostPort> listen{{"0.0.0.0", 8080}};
  uint32_t workers = 0;  // 0 = one per CPU core
  uint64_t max_connections = 10000;
  uint64_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 8 * 1024 * 1024;
  Duration client_header_timeout = std::chrono::seconds(10);
  Duration client_body_timeout = std::chrono::seconds(30);
  Duration keepalive_timeout = std::chrono::seconds(60);
  Duration tunnel_idle_timeout = std::chrono::minutes(5);  // an upgraded connection idle this long
  Duration drain_timeout = std::chrono::seconds(30);
};

enum class TlsVersion { kTls12, kTls13 };

// One [[tls.certificate]]: a certificate chain and its key, validated when the
// config is loaded (a reload reads the files again).
struct TlsCertificateConfig {
  // The files read: a relative path in the config is resolved against the
  // config file's directory.
  std::string cert_path;
  std::string key_path;
  // The SNI names this certificate is chosen for, lower-cased: exact names and
  // "*.example.com" (one label). `server_names` if set, else the
  // certificate's DNS names (subjectAltName).
  std::vector<std::string> server_names;
  bool server_names_configured = false;  // true: from the `server_names` key
  // The files' contents as validated: the TLS contexts are built from these,
  // so what was checked is what is served. key_pem is a secret: it is never
  // written out (GET /config shows the paths).
  std::string cert_pem;
  std::string key_pem;
  SourcePosition position;  // of the [[tls.certificate]] table
};

// [tls]: HTTPS listeners. Present only when the file has a [tls] table.
struct TlsConfig {
  std::vector<HostPort> listen;
  TlsVersion min_version = TlsVersion::kTls12;
  Duration handshake_timeout = std::chrono::seconds(10);
  std::vector<TlsCertificateConfig> certificates;  // at least one; the first is the default
  SourcePosition position;                         // of the [tls] table
};

struct AdminConfig {
  HostPort listen{"127.0.0.1", 9901};
  std::optional<std::string> token;  // require "Authorization: Bearer <token>"
  // How often the admin side samples the counters for GET /status.json (90
  // points are kept: 15 minutes at the default). Applies on restart.
  Duration status_interval = std::chrono::seconds(10);
};

struct SummaryQuantile {
  double quantile = 0;
  double error = 0;
  bool operator==(const SummaryQuantile&) const = default;
};

struct MetricsConfig {
  std::string name_space = "routemeter";  // TOML key: namespace
  std::vector<double> histogram_buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  std::vector<SummaryQuantile> summary_quantiles{{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}};
  Duration summary_max_age = std::chrono::seconds(60);
  uint32_t summary_age_buckets = 5;
  bool per_server = false;  // also count requests per upstream server
  uint32_t top_paths = 20;  // raw paths reported per route by GET /debug/paths; 0 = off
  bool exemplars = true;    // trace ids on histogram buckets (OpenMetrics scrapes only)
  // A config that could expose more series than this is refused (cardinality.hpp).
  uint64_t max_series = 100000;
  SourcePosition max_series_position;  // of the key, else of [metrics]; 0 = neither in the file
};

// [push]: push the /metrics exposition to a Prometheus Pushgateway every
// `interval` (docs/metrics.md, "Pushgateway"). Present only when the file
// has a [push] table.
struct PushConfig {
  std::string url;  // "http(s)://host:port[/path]", without a trailing '/'
  std::string job = "routemeter";
  Duration interval = std::chrono::seconds(10);
  // The grouping key after the job, in file order: `grouping` if set, else
  // instance = the host name (read when the config is loaded).
  std::vector<std::pair<std::string, std::string>> grouping;
  bool grouping_configured = false;  // true: from the `grouping` key
  SourcePosition position;           // of the [push] table
};

enum class LogFormat { kJson, kCombined };
enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct LogConfig {
  std::string access = "stdout";  // "off" | "stdout" | a file path
  LogFormat format = LogFormat::kJson;
  LogLevel level = LogLevel::kInfo;
};

// How an upstream picks a server (docs/upstreams.md): smooth weighted round
// robin, fewest in-flight requests (weighted), or the less loaded of two
// random servers.
enum class Balance { kRoundRobin, kLeastConn, kRandomTwo };

// The largest `weight` of an upstream server.
constexpr uint32_t kMaxServerWeight = 1000;

struct HealthCheckConfig {
  bool enabled = false;  // true when [upstream.health] is present
  std::string path = "/healthz";
  Duration interval = std::chrono::seconds(5);
  Duration timeout = std::chrono::seconds(1);
  uint32_t unhealthy_after = 3;
  uint32_t healthy_after = 2;
};

// Passive outlier ejection (docs/upstreams.md): `consecutive_failures` 5xx
// answers or failed connects in a row take a server out for
// base_ejection_time x 2^(ejections in a row), at most 10 x base, never
// more than max_ejection_percent of the upstream's servers at once.
struct OutlierConfig {
  bool enabled = false;  // true when [upstream.outlier] is present
  uint32_t consecutive_failures = 5;
  Duration base_ejection_time = std::chrono::seconds(30);
  uint32_t max_ejection_percent = 50;
};

struct UpstreamConfig {
  std::string name;
  std::vector<HostPort> servers;
  std::vector<uint32_t> weights;  // one per server, 1..kMaxServerWeight; missing = 1
  Balance balance = Balance::kRoundRobin;
  Duration connect_timeout = std::chrono::seconds(1);
  Duration response_timeout = std::chrono::seconds(30);
  uint32_t max_idle_connections = 64;  // keep-alive pool per worker and server
  // Retries (docs/upstreams.md, "Retries"): further attempts after a failed
  // one, each on another server when there is one; the reasons that allow
  // one; retries in flight at most this share of requests in flight.
  uint32_t retries = 1;  // 0..kMaxRetries
  RetryOn retry_on = kDefaultRetryOn;
  double retry_budget = 0.2;  // [0, 1]
  HealthCheckConfig health;
  OutlierConfig outlier;
  SourcePosition position;  // of the [[upstream]] table

  uint32_t weight(size_t server) const { return server < weights.size() ? weights[server] : 1; }
};

enum class PathMatch { kExact, kPrefix, kRegex };

// A route's `slo`: a request is good when it is answered without a 5xx within
// `latency`, slow when it is answered without a 5xx later, an error with a
// 5xx (routemeter_slo_requests_total; docs/metrics.md, "SLOs").
struct SloConfig {
  Duration latency{0};   // > 0
  double objective = 0;  // the share of good requests aimed for, in (0, 1)
  bool operator==(const SloConfig&) const = default;
};

struct RouteConfig {
  std::string name;
  PathMatch match = PathMatch::kPrefix;
  std::string path;                  // the exact path, the prefix or the regex source
  std::vector<std::string> methods;  // upper-cased; empty = any
  std::string host;                  // lower-cased; empty = any; "*.example.com" = wildcard
  std::string upstream;
  size_t upstream_index = 0;  // index into Config::upstreams, resolved by validation
  bool strip_prefix = false;
  std::optional<SloConfig> slo;  // no `slo` key: no SLO accounting
  SourcePosition position;       // of the [[route]] table
};

struct Config {
  std::string source_path;  // the file it was read from
  ServerConfig server;
  std::optional<TlsConfig> tls;  // no [tls] table: no HTTPS listener
  AdminConfig admin;
  MetricsConfig metrics;
  std::optional<PushConfig> push;  // no [push] table: no pushing
  LogConfig log;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
};

// One problem found in a config file: "file:line:col: message".
struct ConfigError {
  std::string file;
  SourcePosition position;
  std::string message;
  std::string to_string() const;
};

// Either a valid config or every error found in the file (never both), and
// what loads but deserves a look (an expired certificate), in file order.
struct ConfigLoadResult {
  std::shared_ptr<const Config> config;
  std::vector<ConfigError> errors;
  std::vector<ConfigError> warnings;
  bool ok() const { return config != nullptr; }
};

// Reads and validates a TOML config file. Never throws.
ConfigLoadResult load_config_file(const std::string& path);
// Same, from text; `source_path` is the name used in errors.
ConfigLoadResult parse_config(std::string_view toml_text, std::string_view source_path);

// Value syntaxes shared with the rest of the program.
std::optional<Duration> parse_duration(std::string_view text);   // "250ms", "10s", "2m", "1h"
std::optional<uint64_t> parse_size(std::string_view text);       // "512", "16KiB", "8MiB", "1GiB"
std::optional<HostPort> parse_host_port(std::string_view text);  // "h:p", "[v6]:p"
// The inverse of parse_duration, in the largest unit that is exact: "2m", "1500ms", "0s".
std::string format_duration(Duration duration);
// The [log] level as written in the file: "debug", "info", "warn", "error".
std::string_view level_name(LogLevel level);
// The [tls] min_version as written in the file: "1.2", "1.3".
std::string_view tls_version_name(TlsVersion version);

// The effective config as JSON (admin /config). Omits the admin token.
std::string config_to_json(const Config& config);

}  // namespace routemeter
