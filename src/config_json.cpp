// The effective config as JSON for the admin endpoint GET /config. The keys
// mirror the TOML keys; durations are written as in TOML ("10s"), sizes as
// bytes; the admin token is never written, only whether one is set, and of a
// TLS certificate only the file paths and server names.
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/config.hpp"
#include "routemeter/json.hpp"

namespace routemeter {
namespace {

// A minimal pretty-printing JSON writer: objects one member per line, arrays
// of scalars on one line. Callers keep the nesting balanced.
class JsonWriter {
 public:
  std::string take() { return std::move(out_); }

  void begin_object() { open('{', false); }
  void end_object() { close('}'); }
  void begin_array(bool inline_items) { open('[', inline_items); }
  void end_array() { close(']'); }

  void key(std::string_view name) {
    separate();
    string_literal(name);
    out_ += ": ";
    after_key_ = true;
  }
  void value(std::string_view text) {
    separate();
    string_literal(text);
  }
  void value(const char* text) { value(std::string_view(text)); }
  void value(bool b) {
    separate();
    out_ += b ? "true" : "false";
  }
  void value(uint64_t n) {
    separate();
    out_ += std::to_string(n);
  }
  void value(double d) {
    separate();
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, d);
    out_.append(buffer, ec == std::errc() ? end : buffer);
  }
  void null() {
    separate();
    out_ += "null";
  }

 private:
  struct Level {
    bool first = true;
    bool inline_items = false;
  };

  void open(char bracket, bool inline_items) {
    separate();
    out_ += bracket;
    levels_.push_back(Level{true, inline_items});
  }
  void close(char bracket) {
    const Level level = levels_.back();
    levels_.pop_back();
    if (!level.first && !level.inline_items) newline();
    out_ += bracket;
    if (levels_.empty()) out_ += '\n';
  }
  void newline() {
    out_ += '\n';
    out_.append(levels_.size() * 2, ' ');
  }
  // Writes what goes before a value or key: a comma and the indentation.
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (levels_.empty()) return;
    Level& level = levels_.back();
    if (!level.first) out_ += level.inline_items ? ", " : ",";
    if (!level.inline_items) newline();
    level.first = false;
  }
  void string_literal(std::string_view text) { append_json_string(out_, text); }

  std::string out_;
  std::vector<Level> levels_;
  bool after_key_ = false;
};

std::string_view format_name(LogFormat format) {
  return format == LogFormat::kJson ? "json" : "combined";
}

std::string_view match_key(PathMatch match) {
  switch (match) {
    case PathMatch::kExact:
      return "path";
    case PathMatch::kPrefix:
      return "path_prefix";
    case PathMatch::kRegex:
      return "path_regex";
  }
  return "path_prefix";
}

void write_host_ports(JsonWriter& w, const std::vector<HostPort>& list) {
  w.begin_array(true);
  for (const HostPort& hp : list) w.value(hp.text());
  w.end_array();
}

// As in the file: "host:port", or { "address": "host:port", "weight": N }
// for a weight other than 1.
void write_servers(JsonWriter& w, const UpstreamConfig& u) {
  bool weighted = false;
  for (size_t i = 0; i < u.servers.size(); ++i) weighted = weighted || u.weight(i) != 1;
  if (!weighted) {
    write_host_ports(w, u.servers);
    return;
  }
  w.begin_array(false);
  for (size_t i = 0; i < u.servers.size(); ++i) {
    if (u.weight(i) == 1) {
      w.value(u.servers[i].text());
      continue;
    }
    w.begin_object();
    w.key("address");
    w.value(u.servers[i].text());
    w.key("weight");
    w.value(uint64_t{u.weight(i)});
    w.end_object();
  }
  w.end_array();
}

std::string_view balance_name(Balance balance) {
  switch (balance) {
    case Balance::kRoundRobin:
      return "round_robin";
    case Balance::kLeastConn:
      return "least_conn";
    case Balance::kRandomTwo:
      return "random_two";
  }
  return "round_robin";
}

void write_duration(JsonWriter& w, std::string_view key, Duration d) {
  w.key(key);
  w.value(format_duration(d));
}

void write_upstream(JsonWriter& w, const UpstreamConfig& u) {
  w.begin_object();
  w.key("name");
  w.value(u.name);
  w.key("servers");
  write_servers(w, u);
  w.key("balance");
  w.value(balance_name(u.balance));
  write_duration(w, "connect_timeout", u.connect_timeout);
  write_duration(w, "response_timeout", u.response_timeout);
  w.key("max_idle_connections");
  w.value(uint64_t{u.max_idle_connections});
  w.key("retries");
  w.value(uint64_t{u.retries});
  w.key("retry_on");
  w.begin_array(true);
  for (size_t i = 0; i < kRetryOnValues; ++i) {
    const auto reason = static_cast<RetryReason>(i);
    if ((u.retry_on & retry_bit(reason)) != 0) w.value(retry_reason_name(reason));
  }
  w.end_array();
  w.key("retry_budget");
  w.value(u.retry_budget);
  w.key("health");
  if (u.health.enabled) {
    w.begin_object();
    w.key("path");
    w.value(u.health.path);
    write_duration(w, "interval", u.health.interval);
    write_duration(w, "timeout", u.health.timeout);
    w.key("unhealthy_after");
    w.value(uint64_t{u.health.unhealthy_after});
    w.key("healthy_after");
    w.value(uint64_t{u.health.healthy_after});
    w.end_object();
  } else {
    w.null();
  }
  w.key("outlier");
  if (u.outlier.enabled) {
    w.begin_object();
    w.key("consecutive_failures");
    w.value(uint64_t{u.outlier.consecutive_failures});
    write_duration(w, "base_ejection_time", u.outlier.base_ejection_time);
    w.key("max_ejection_percent");
    w.value(uint64_t{u.outlier.max_ejection_percent});
    w.end_object();
  } else {
    w.null();
  }
  w.end_object();
}

void write_route(JsonWriter& w, const RouteConfig& r) {
  w.begin_object();
  w.key("name");
  w.value(r.name);
  w.key(match_key(r.match));
  w.value(r.path);
  w.key("methods");
  w.begin_array(true);
  for (const std::string& m : r.methods) w.value(m);
  w.end_array();
  w.key("host");
  if (r.host.empty()) {
    w.null();
  } else {
    w.value(r.host);
  }
  w.key("upstream");
  w.value(r.upstream);
  w.key("strip_prefix");
  w.value(r.strip_prefix);
  w.key("slo");
  if (r.slo) {
    w.begin_object();
    write_duration(w, "latency", r.slo->latency);
    w.key("objective");
    w.value(r.slo->objective);
    w.end_object();
  } else {
    w.null();
  }
  w.end_object();
}

// Paths and names only: the key's contents are never written.
void write_tls(JsonWriter& w, const TlsConfig& tls) {
  w.begin_object();
  w.key("listen");
  write_host_ports(w, tls.listen);
  w.key("min_version");
  w.value(tls_version_name(tls.min_version));
  write_duration(w, "handshake_timeout", tls.handshake_timeout);
  w.key("certificate");
  w.begin_array(false);
  for (const TlsCertificateConfig& cert : tls.certificates) {
    w.begin_object();
    w.key("cert");
    w.value(cert.cert_path);
    w.key("key");
    w.value(cert.key_path);
    w.key("server_names");
    w.begin_array(true);
    for (const std::string& name : cert.server_names) w.value(name);
    w.end_array();
    w.key("server_names_configured");
    w.value(cert.server_names_configured);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace

std::string config_to_json(const Config& c) {
  JsonWriter w;
  w.begin_object();
  w.key("source_path");
  w.value(c.source_path);

  w.key("server");
  w.begin_object();
  w.key("listen");
  write_host_ports(w, c.server.listen);
  w.key("workers");
  w.value(uint64_t{c.server.workers});
  w.key("max_connections");
  w.value(c.server.max_connections);
  w.key("max_header_bytes");
  w.value(c.server.max_header_bytes);
  w.key("max_body_bytes");
  w.value(c.server.max_body_bytes);
  write_duration(w, "client_header_timeout", c.server.client_header_timeout);
  write_duration(w, "client_body_timeout", c.server.client_body_timeout);
  write_duration(w, "keepalive_timeout", c.server.keepalive_timeout);
  write_duration(w, "tunnel_idle_timeout", c.server.tunnel_idle_timeout);
  write_duration(w, "drain_timeout", c.server.drain_timeout);
  w.end_object();

  w.key("tls");
  if (c.tls) {
    write_tls(w, *c.tls);
  } else {
    w.null();
  }

  w.key("admin");
  w.begin_object();
  w.key("listen");
  w.value(c.admin.listen.text());
  w.key("token_set");
  w.value(c.admin.token.has_value());
  write_duration(w, "status_interval", c.admin.status_interval);
  w.end_object();

  w.key("metrics");
  w.begin_object();
  w.key("namespace");
  w.value(c.metrics.name_space);
  w.key("histogram_buckets");
  w.begin_array(true);
  for (double b : c.metrics.histogram_buckets) w.value(b);
  w.end_array();
  w.key("summary_quantiles");
  w.begin_array(true);
  for (const SummaryQuantile& q : c.metrics.summary_quantiles) {
    w.begin_array(true);
    w.value(q.quantile);
    w.value(q.error);
    w.end_array();
  }
  w.end_array();
  write_duration(w, "summary_max_age", c.metrics.summary_max_age);
  w.key("summary_age_buckets");
  w.value(uint64_t{c.metrics.summary_age_buckets});
  w.key("per_server");
  w.value(c.metrics.per_server);
  w.key("top_paths");
  w.value(uint64_t{c.metrics.top_paths});
  w.key("max_series");
  w.value(c.metrics.max_series);
  w.key("exemplars");
  w.value(c.metrics.exemplars);
  w.end_object();

  w.key("push");
  if (c.push) {
    w.begin_object();
    w.key("url");
    w.value(c.push->url);
    w.key("job");
    w.value(c.push->job);
    write_duration(w, "interval", c.push->interval);
    w.key("grouping");
    w.begin_object();
    for (const auto& [name, value] : c.push->grouping) {
      w.key(name);
      w.value(value);
    }
    w.end_object();
    w.end_object();
  } else {
    w.null();
  }

  w.key("log");
  w.begin_object();
  w.key("access");
  w.value(c.log.access);
  w.key("format");
  w.value(format_name(c.log.format));
  w.key("level");
  w.value(level_name(c.log.level));
  w.end_object();

  w.key("upstream");
  w.begin_array(false);
  for (const UpstreamConfig& u : c.upstreams) write_upstream(w, u);
  w.end_array();

  w.key("route");
  w.begin_array(false);
  for (const RouteConfig& r : c.routes) write_route(w, r);
  w.end_array();

  w.end_object();
  return w.take();
}

}  // namespace routemeter
