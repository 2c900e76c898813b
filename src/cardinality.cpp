// The series bound of a config; see cardinality.hpp. The numbers follow how
// MetricsBinding, Metrics and the collectors create series: keep them in
// step (tests/unit/cardinality_test.cpp drives every method and status
// through a binding and checks the counts stay within these).
#include "routemeter/cardinality.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <set>

#include "routemeter/http.hpp"

namespace routemeter {
namespace {

// The IANA HTTP Status Code Registry (RFC 9110 and later), "(Unused)" 306
// and 418 included, plus 499 (nginx's "client closed request", which
// routemeter counts itself).
constexpr std::array<int, 64> kRegistered = {
    100, 101, 102, 103,                                               // 1xx
    200, 201, 202, 203, 204, 205, 206, 207, 208, 226,                 // 2xx
    300, 301, 302, 303, 304, 305, 306, 307, 308,                      // 3xx
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412,  // 4xx
    413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429,
    431, 451, 499, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,  // 5xx
};
static_assert(kCodeLabelValues == kRegistered.size() + 5);

constexpr size_t kMethods = static_cast<size_t>(http::Method::kOther) + 1;
constexpr size_t kUpstreamErrorKinds = 6;  // UpstreamError without kNone
constexpr size_t kAcceptSeries = 2 * 5;    // listeners x reasons (accept_errors.hpp)

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

bool is_registered_status(int status) {
  return std::binary_search(kRegistered.begin(), kRegistered.end(), status);
}

int status_code_key(int status) {
  if (is_registered_status(status)) return status;
  if (status >= 100 && status <= 599) return status / 100;
  return 5;
}

std::string code_label(int key) {
  if (key >= 1 && key <= 5) return std::to_string(key) + "xx";
  return std::to_string(key);
}

std::vector<FamilyBound> series_bound(const Config& c) {
  const std::string& ns = c.metrics.name_space;
  auto name = [&ns](const char* suffix) { return ns + "_" + suffix; };
  const uint64_t upstreams = c.upstreams.size();
  const uint64_t routes = c.routes.size() + 1;  // and "unmatched"
  // Methods per route: those it lists (as labels: PURGE is OTHER), else
  // every label but CONNECT, which the parser refuses before routing (501,
  // counted on "unmatched", which gets all of them).
  uint64_t route_methods = kMethods;
  uint64_t slo_routes = 0;
  for (const RouteConfig& r : c.routes) {
    if (r.methods.empty()) {
      route_methods += kMethods - 1;
    } else {
      std::set<http::Method> labels;
      for (const std::string& m : r.methods) labels.insert(http::parse_method(m));
      route_methods += labels.size();
    }
    if (r.slo) ++slo_routes;
  }
  uint64_t servers = 0;
  uint64_t checked_servers = 0;  // of upstreams with [upstream.health]
  uint64_t outlier_servers = 0;  // of upstreams with [upstream.outlier]
  for (const UpstreamConfig& u : c.upstreams) {
    servers += u.servers.size();
    if (u.health.enabled) checked_servers += u.servers.size();
    if (u.outlier.enabled) outlier_servers += u.servers.size();
  }
  const uint64_t buckets = c.metrics.histogram_buckets.size() + 1;  // and +Inf
  const uint64_t quantiles = c.metrics.summary_quantiles.size();
  const uint64_t certificates = c.tls ? c.tls->certificates.size() : 0;
  const std::string methods_why =
      plural(route_methods, "(route, method) pair", "(route, method) pairs");

  std::vector<FamilyBound> out;
  out.push_back({name("requests_in_flight"), upstreams + 1,
                 plural(upstreams + 1, "upstream", "upstreams") + " (\"none\" included)"});
  out.push_back({name("requests_total"), route_methods * kCodeLabelValues,
                 methods_why + " x " + std::to_string(kCodeLabelValues) +
                     " codes (63 IANA, 499, 5 folded classes)"});
  out.push_back({name("request_duration_seconds"), route_methods * (buckets + 2),
                 methods_why + " x (" + std::to_string(buckets) + " buckets + _sum + _count)"});
  out.push_back({name("upstream_errors_total"), upstreams * kUpstreamErrorKinds,
                 plural(upstreams, "upstream", "upstreams") + " x 6 kinds"});
  out.push_back({name("upstream_retries_total"), upstreams * kRetryReasons,
                 plural(upstreams, "upstream", "upstreams") + " x " +
                     std::to_string(kRetryReasons) + " reasons"});
  out.push_back({name("request_bytes_total"), routes,
                 plural(routes, "route", "routes") + " (\"unmatched\" included)"});
  out.push_back({name("response_bytes_total"), routes, plural(routes, "route", "routes")});
  out.push_back({name("config_last_reload_successful"), 1, "one"});
  out.push_back({name("config_last_reload_success_timestamp_seconds"), 1, "one"});
  out.push_back({name("config_reloads_total"), 2, "2 results"});
  out.push_back({name("accept_errors_total"), kAcceptSeries, "2 listeners x 5 reasons"});
  out.push_back({name("tls_handshakes_total"), 2, "2 results"});
  out.push_back({name("slo_requests_total"), slo_routes * 3,
                 plural(slo_routes, "route", "routes") + " with an slo x 3 results"});
  out.push_back({name("push_total"), c.push ? 2U : 0U, c.push ? "2 results" : "no [push]"});
  out.push_back({name("request_latency_seconds"), route_methods * (quantiles + 2),
                 methods_why + " x (" + std::to_string(quantiles) + " quantiles + _sum + _count)"});
  out.push_back({name("connections_active"), 1, "one"});
  out.push_back({name("connections_total"), 1, "one"});
  out.push_back({name("request_body_buffered_bytes"), 1, "one"});
  out.push_back({name("upstream_server_up"), servers, plural(servers, "server", "servers")});
  out.push_back({name("upstream_health_checks_total"), checked_servers * 2,
                 plural(checked_servers, "checked server", "checked servers") + " x 2 results"});
  out.push_back({name("upstream_ejections_total"), outlier_servers,
                 plural(outlier_servers, "server", "servers") + " with [upstream.outlier]"});
  out.push_back({name("upstream_server_requests_total"),
                 c.metrics.per_server ? servers * kCodeLabelValues : 0,
                 c.metrics.per_server ? plural(servers, "server", "servers") + " x " +
                                            std::to_string(kCodeLabelValues) + " codes"
                                      : "per_server = false"});
  for (const char* f : {"upstream_connect_duration_seconds", "upstream_header_duration_seconds"}) {
    out.push_back({name(f), upstreams * (buckets + 2),
                   plural(upstreams, "upstream", "upstreams") + " x (" + std::to_string(buckets) +
                       " buckets + _sum + _count)"});
  }
  out.push_back({name("tunnels_active"), upstreams, plural(upstreams, "upstream", "upstreams")});
  out.push_back({name("tls_certificate_expiry_timestamp_seconds"), certificates,
                 plural(certificates, "certificate", "certificates")});
  out.push_back({name("slo_objective_ratio"), slo_routes,
                 plural(slo_routes, "route", "routes") + " with an slo"});
  out.push_back({name("slo_latency_threshold_seconds"), slo_routes,
                 plural(slo_routes, "route", "routes") + " with an slo"});
  out.push_back({name("build_info"), 1, "one"});
  for (const char* p : {"process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                        "process_virtual_memory_bytes", "process_resident_memory_bytes",
                        "process_start_time_seconds"}) {
    out.push_back({p, 1, "one"});
  }
  return out;
}

uint64_t total_series(const std::vector<FamilyBound>& bound) {
  uint64_t total = 0;
  for (const FamilyBound& f : bound) total += f.series;
  return total;
}

std::optional<ConfigError> check_series_bound(const Config& config) {
  const uint64_t total = total_series(series_bound(config));
  if (total <= config.metrics.max_series) return std::nullopt;
  return ConfigError{
      config.source_path, config.metrics.max_series_position,
      "metrics.max_series: this config can expose up to " + std::to_string(total) +
          " series, more than max_series = " + std::to_string(config.metrics.max_series) +
          " (routemeter --check-config lists them per metric family; list the "
          "methods of busy routes, or raise max_series)"};
}

std::string format_series_bound(const std::vector<FamilyBound>& bound, uint64_t max_series) {
  size_t width = 5;
  for (const FamilyBound& f : bound) width = std::max(width, f.name.size());
  std::string out = "series bound (the most this config can expose, whatever the traffic):\n";
  char line[512];
  for (const FamilyBound& f : bound) {
    std::snprintf(line, sizeof line, "  %-*s %8llu  %s\n", static_cast<int>(width), f.name.c_str(),
                  static_cast<unsigned long long>(f.series), f.why.c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "  %-*s %8llu  of max_series = %llu\n", static_cast<int>(width),
                "total", static_cast<unsigned long long>(total_series(bound)),
                static_cast<unsigned long long>(max_series));
  out += line;
  return out;
}

}  // namespace routemeter
