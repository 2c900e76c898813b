// The [[upstream]] and [[route]] tables of the config and the checks across
// them: unique names, reserved labels, every route's upstream defined.
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "config_reader.hpp"
#include "routemeter/config.hpp"

// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s <regex>
// when built with sanitizers (GCC bug 105562); the code is libstdc++'s.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

namespace routemeter::config_detail {
namespace {

// Label values that routemeter itself uses for requests matching no route.
constexpr std::string_view kReservedRouteName = "unmatched";
constexpr std::string_view kReservedUpstreamName = "none";
constexpr int64_t kMaxU32 = 0xffffffff;

// The shortest text that reads back as `value` ("99.9", not "99.900000").
std::string shortest(double value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::string();
}

bool is_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

// RFC 9110 5.6.2 tchar.
bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool is_route_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#') return false;
  }
  return true;
}

// Where the names were written, for the checks across tables.
struct Origin {
  std::string prefix;  // of this table's messages
  SourcePosition name;
  SourcePosition upstream;  // routes only
  bool valid_name = false;
  bool has_upstream = false;  // routes only: `upstream` is a string
};

bool before(const toml::node& a, const toml::node& b) {
  const SourcePosition pa = position_of(a.source());
  const SourcePosition pb = position_of(b.source());
  return pa.line < pb.line || (pa.line == pb.line && pa.column < pb.column);
}

// Reads `name`, checks it and returns the message prefix for the table:
// `upstream "car": ` or, without a usable name, `upstream #2: `.
std::string read_name(ConfigReader& r, const toml::table& t, std::string_view kind, size_t index,
                      std::string_view reserved, std::string& name, Origin& origin) {
  std::string fallback = std::string(kind) + " #" + std::to_string(index + 1) + ": ";
  const toml::node* node = t.get("name");
  if (node == nullptr) {
    r.error(t.source(), fallback + "missing required key \"name\"");
    return fallback;
  }
  origin.name = position_of(node->source());
  if (!r.node_string(*node, fallback + "name", name)) return fallback;
  if (!is_name(name)) {
    r.error(node->source(),
            fallback + "name: must be letters, digits, '_', '-' or '.', got " + quoted(name));
    return fallback;
  }
  std::string prefix = std::string(kind) + " " + quoted(name) + ": ";
  if (name == reserved) {
    r.error(node->source(), prefix + "the name " + quoted(reserved) +
                                " is reserved for requests that match no route");
    return prefix;
  }
  origin.valid_name = true;
  return prefix;
}

void read_health(ConfigReader& r, const toml::table& t, const std::string& prefix,
                 HealthCheckConfig& health) {
  const std::string p = prefix + "health.";
  r.check_keys(t, {"path", "interval", "timeout", "unhealthy_after", "healthy_after"}, p);
  health.enabled = true;
  std::string path;
  if (r.read_string(t, "path", p, path)) {
    if (is_route_path(path)) {
      health.path = std::move(path);
    } else {
      r.error(t.get("path")->source(), p + "path: must start with '/', got " + quoted(path));
    }
  }
  r.read_duration(t, "interval", p, false, health.interval);
  r.read_duration(t, "timeout", p, false, health.timeout);
  r.read_unsigned<uint32_t>(t, "unhealthy_after", p, 1, kMaxU32, health.unhealthy_after);
  r.read_unsigned<uint32_t>(t, "healthy_after", p, 1, kMaxU32, health.healthy_after);
}

void read_outlier(ConfigReader& r, const toml::table& t, const std::string& prefix,
                  OutlierConfig& outlier) {
  const std::string p = prefix + "outlier.";
  r.check_keys(t, {"consecutive_failures", "base_ejection_time", "max_ejection_percent"}, p);
  outlier.enabled = true;
  r.read_unsigned<uint32_t>(t, "consecutive_failures", p, 1, kMaxU32, outlier.consecutive_failures);
  r.read_duration(t, "base_ejection_time", p, false, outlier.base_ejection_time);
  r.read_unsigned<uint32_t>(t, "max_ejection_percent", p, 0, 100, outlier.max_ejection_percent);
}

// `retries`, `retry_on` (each value once) and `retry_budget`.
void read_retries(ConfigReader& r, const toml::table& t, const std::string& p,
                  UpstreamConfig& upstream) {
  r.read_unsigned<uint32_t>(t, "retries", p, 0, kMaxRetries, upstream.retries);
  if (const toml::array* retry_on = r.read_array(t, "retry_on", p)) {
    RetryOn set = 0;
    bool ok = true;
    for (size_t i = 0; i < retry_on->size(); ++i) {
      const toml::node& element = *retry_on->get(i);
      const std::string what = p + "retry_on[" + std::to_string(i) + "]";
      std::string value;
      if (!r.node_string(element, what, value)) {
        ok = false;
        continue;
      }
      const std::optional<RetryReason> reason = parse_retry_on(value);
      if (!reason) {
        r.error(element.source(), what +
                                      ": must be \"connect_failure\", \"reset\", \"502\", "
                                      "\"503\", \"504\" or \"response_timeout\", got " +
                                      quoted(value));
        ok = false;
      } else if ((set & retry_bit(*reason)) != 0) {
        r.error(element.source(), what + ": " + quoted(value) + " is listed twice");
        ok = false;
      } else {
        set |= retry_bit(*reason);
      }
    }
    if (ok) upstream.retry_on = set;
  }
  if (const toml::node* budget = t.get("retry_budget")) {
    double value = 0;
    if (r.node_number(*budget, p + "retry_budget", value)) {
      if (value >= 0 && value <= 1) {
        upstream.retry_budget = value;
      } else {
        r.error(budget->source(), p +
                                      "retry_budget: must be a ratio between 0 and 1, like 0.2, "
                                      "got " +
                                      shortest(value));
      }
    }
  }
}

// One `servers` entry: "host:port", or { address = "host:port", weight = N }.
bool read_server(ConfigReader& r, const toml::node& element, const std::string& what,
                 HostPort& address, uint32_t& weight) {
  const toml::table* t = element.as_table();
  if (t == nullptr) {
    if (element.is_string()) return r.node_host_port(element, what, 1, address);
    r.type_error(element, what,
                 "a \"host:port\" string or a table { address = \"host:port\", weight = N }");
    return false;
  }
  r.check_keys(*t, {"address", "weight"}, what + ".");
  bool ok = true;
  if (const toml::node* node = t->get("address")) {
    ok = r.node_host_port(*node, what + ".address", 1, address);
  } else {
    r.error(t->source(), what + ": missing required key \"address\"");
    ok = false;
  }
  if (t->get("weight") != nullptr &&
      !r.read_unsigned<uint32_t>(*t, "weight", what + ".", 1, kMaxServerWeight, weight)) {
    ok = false;
  }
  return ok;
}

void read_upstream(ConfigReader& r, const toml::table& t, size_t index, UpstreamConfig& upstream,
                   Origin& origin) {
  upstream.position = position_of(t.source());
  origin.prefix = read_name(r, t, "upstream", index, kReservedUpstreamName, upstream.name, origin);
  const std::string& p = origin.prefix;
  r.check_keys(t,
               {"name", "servers", "balance", "connect_timeout", "response_timeout",
                "max_idle_connections", "retries", "retry_on", "retry_budget", "health", "outlier"},
               p);
  if (const toml::array* servers = r.read_array(t, "servers", p)) {
    if (servers->empty()) r.error(servers->source(), p + "servers: needs at least one server");
    for (size_t i = 0; i < servers->size(); ++i) {
      const toml::node& element = *servers->get(i);
      const std::string what = p + "servers[" + std::to_string(i) + "]";
      HostPort server;
      uint32_t weight = 1;
      if (!read_server(r, element, what, server, weight)) continue;
      for (const HostPort& seen : upstream.servers) {
        if (seen == server)
          r.error(element.source(), what + ": " + quoted(server.text()) + " is listed twice");
      }
      upstream.servers.push_back(std::move(server));
      upstream.weights.push_back(weight);
    }
  } else if (t.get("servers") == nullptr) {
    r.error(t.source(), p + "missing required key \"servers\"");
  }
  std::string balance;
  if (r.read_string(t, "balance", p, balance)) {
    if (balance == "round_robin") {
      upstream.balance = Balance::kRoundRobin;
    } else if (balance == "least_conn") {
      upstream.balance = Balance::kLeastConn;
    } else if (balance == "random_two") {
      upstream.balance = Balance::kRandomTwo;
    } else {
      r.error(t.get("balance")->source(), p +
                                              "balance: must be \"round_robin\", \"least_conn\" "
                                              "or \"random_two\", got " +
                                              quoted(balance));
    }
  }
  r.read_duration(t, "connect_timeout", p, false, upstream.connect_timeout);
  r.read_duration(t, "response_timeout", p, false, upstream.response_timeout);
  r.read_unsigned<uint32_t>(t, "max_idle_connections", p, 0, kMaxU32,
                            upstream.max_idle_connections);
  read_retries(r, t, p, upstream);
  if (const toml::table* health = r.read_table(t, "health", p)) {
    read_health(r, *health, p, upstream.health);
  }
  if (const toml::table* outlier = r.read_table(t, "outlier", p)) {
    read_outlier(r, *outlier, p, upstream.outlier);
  }
}

void read_route_match(ConfigReader& r, const toml::table& t, const std::string& p,
                      RouteConfig& route) {
  const toml::node* chosen = nullptr;
  std::string_view chosen_key;
  for (std::string_view key : {"path", "path_prefix", "path_regex"}) {
    const toml::node* node = t.get(key);
    if (node == nullptr) continue;
    if (chosen != nullptr) {
      // Report at whichever of the two comes later in the file.
      r.error(before(*chosen, *node) ? node->source() : chosen->source(),
              p + std::string(chosen_key) + " and " + std::string(key) +
                  " cannot both be set: use one of path, path_prefix or path_regex");
      return;
    }
    chosen = node;
    chosen_key = key;
  }
  if (chosen == nullptr) {
    r.error(t.source(), p + "needs one of path, path_prefix or path_regex");
    return;
  }
  const std::string what = p + std::string(chosen_key);
  if (!r.node_string(*chosen, what, route.path)) return;
  if (chosen_key == "path_regex") {
    route.match = PathMatch::kRegex;
    try {
      std::regex compiled(route.path, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      r.error(chosen->source(),
              what + ": invalid regular expression " + quoted(route.path) + ": " + e.what());
    }
    return;
  }
  route.match = chosen_key == "path" ? PathMatch::kExact : PathMatch::kPrefix;
  if (!is_route_path(route.path)) {
    r.error(chosen->source(), what + ": must start with '/' and hold no spaces, '?' or '#', got " +
                                  quoted(route.path));
  }
}

// `slo = { latency = "300ms", objective = 0.999 }`: both keys required.
void read_slo(ConfigReader& r, const toml::node& node, const std::string& prefix,
              RouteConfig& route) {
  const auto* t = node.as_table();
  if (t == nullptr) {
    r.type_error(node, prefix + "slo", "a table like { latency = \"300ms\", objective = 0.999 }");
    return;
  }
  const std::string p = prefix + "slo.";
  r.check_keys(*t, {"latency", "objective"}, p);
  SloConfig slo;
  bool ok = true;
  if (t->get("latency") == nullptr) {
    r.error(t->source(), prefix + "slo: missing required key \"latency\"");
    ok = false;
  } else if (!r.read_duration(*t, "latency", p, false, slo.latency)) {
    ok = false;
  }
  if (const toml::node* objective = t->get("objective")) {
    if (!r.node_number(*objective, p + "objective", slo.objective)) {
      ok = false;
    } else if (!(slo.objective > 0 && slo.objective < 1)) {
      // 1 leaves no error budget (every burn rate would divide by zero);
      // 99.9 is a percentage where a ratio is expected.
      r.error(objective->source(),
              p + "objective: must be a ratio between 0 and 1 (exclusive), like 0.999, got " +
                  shortest(slo.objective));
      ok = false;
    }
  } else {
    r.error(t->source(), prefix + "slo: missing required key \"objective\"");
    ok = false;
  }
  if (ok) route.slo = slo;
}

void read_route(ConfigReader& r, const toml::table& t, size_t index, RouteConfig& route,
                Origin& origin) {
  route.position = position_of(t.source());
  origin.prefix = read_name(r, t, "route", index, kReservedRouteName, route.name, origin);
  const std::string& p = origin.prefix;
  r.check_keys(t,
               {"name", "path", "path_prefix", "path_regex", "methods", "host", "upstream",
                "strip_prefix", "slo"},
               p);
  read_route_match(r, t, p, route);
  if (const toml::array* methods = r.read_array(t, "methods", p)) {
    if (methods->empty()) {
      r.error(methods->source(),
              p + "methods: must not be empty (remove the key to allow any method)");
    }
    for (size_t i = 0; i < methods->size(); ++i) {
      const toml::node& element = *methods->get(i);
      const std::string what = p + "methods[" + std::to_string(i) + "]";
      std::string method;
      if (!r.node_string(element, what, method)) continue;
      if (!is_token(method)) {
        r.error(element.source(), what + ": not a valid HTTP method, got " + quoted(method));
        continue;
      }
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (std::find(route.methods.begin(), route.methods.end(), method) != route.methods.end()) {
        // An error message; operator+ on the rvalue temporaries appends in place (C++11).
        // NOLINTNEXTLINE(performance-inefficient-string-concatenation): no extra allocation.
        r.error(element.source(), what + ": " + method + " is listed twice");
      }
      route.methods.push_back(std::move(method));
    }
  }
  std::string host;
  if (r.read_string(t, "host", p, host)) {
    route.host = normalize_host(host);
    if (route.host.empty()) {
      r.error(t.get("host")->source(),
              p +
                  "host: expected a host name like \"cars.example.com\" or "
                  "\"*.example.com\" (no port), got " +
                  quoted(host));
    }
  }
  if (const toml::node* upstream = t.get("upstream")) {
    origin.upstream = position_of(upstream->source());
    origin.has_upstream = r.node_string(*upstream, p + "upstream", route.upstream);
  } else {
    r.error(t.source(), p + "missing required key \"upstream\"");
  }
  if (r.read_bool(t, "strip_prefix", p, route.strip_prefix) && route.strip_prefix &&
      route.match != PathMatch::kPrefix) {
    r.error(t.get("strip_prefix")->source(), p + "strip_prefix: only works with path_prefix");
  }
  if (const toml::node* slo = t.get("slo")) read_slo(r, *slo, p, route);
}

// The [[name]] array at the root, or nullptr (reporting a wrong type).
const toml::array* table_array(ConfigReader& r, const toml::table& root, std::string_view name) {
  const toml::node* node = root.get(name);
  if (node == nullptr) return nullptr;
  const auto* array = node->as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    r.type_error(*node, name, "an array of tables ([[" + std::string(name) + "]])");
    return nullptr;
  }
  return array;
}

}  // namespace

void read_upstreams_and_routes(ConfigReader& r, const toml::table& root, Config& config) {
  std::vector<Origin> upstream_origins;
  if (const toml::array* upstreams = table_array(r, root, "upstream")) {
    for (size_t i = 0; i < upstreams->size(); ++i) {
      UpstreamConfig& upstream = config.upstreams.emplace_back();
      Origin& origin = upstream_origins.emplace_back();
      read_upstream(r, *upstreams->get(i)->as_table(), i, upstream, origin);
      for (size_t j = 0; j < i && origin.valid_name; ++j) {
        if (upstream_origins[j].valid_name && config.upstreams[j].name == upstream.name) {
          r.error(origin.name, "upstream " + quoted(upstream.name) +
                                   ": the name is already used by the upstream at line " +
                                   std::to_string(upstream_origins[j].name.line));
          break;
        }
      }
    }
  }
  std::vector<Origin> route_origins;
  if (const toml::array* routes = table_array(r, root, "route")) {
    for (size_t i = 0; i < routes->size(); ++i) {
      RouteConfig& route = config.routes.emplace_back();
      Origin& origin = route_origins.emplace_back();
      read_route(r, *routes->get(i)->as_table(), i, route, origin);
      for (size_t j = 0; j < i && origin.valid_name; ++j) {
        if (route_origins[j].valid_name && config.routes[j].name == route.name) {
          r.error(origin.name, "route " + quoted(route.name) +
                                   ": the name is already used by the route at line " +
                                   std::to_string(route_origins[j].name.line));
          break;
        }
      }
      if (!origin.has_upstream) continue;  // missing or mistyped: reported already
      bool found = false;
      for (size_t u = 0; u < config.upstreams.size() && !found; ++u) {
        if (config.upstreams[u].name == route.upstream) {
          route.upstream_index = u;
          found = true;
        }
      }
      if (!found) {
        r.error(origin.upstream,
                origin.prefix + "upstream " + quoted(route.upstream) + " is not defined");
      }
    }
  }
}

}  // namespace routemeter::config_detail
