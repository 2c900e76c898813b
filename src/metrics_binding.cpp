// MetricsBinding: one config's series, resolved when the config is loaded,
// and the per-request record through them (metrics.hpp). Metrics, the
// registry they live in, is in metrics.cpp.
#include <chrono>

#include "routemeter/cardinality.hpp"
#include "routemeter/http.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/router.hpp"

namespace routemeter {

namespace {

uint64_t ns_between(uint64_t from_ns, uint64_t to_ns) {
  return to_ns > from_ns ? to_ns - from_ns : 0;
}

WorkerHistogramFamily::Series* add_histogram(Metrics& metrics, WorkerHistogramFamily& family,
                                             const std::string& key,
                                             const prometheus::Labels& labels) {
  WorkerHistogramFamily::Series& series = family.add(labels);
  metrics.on_created(key, &series, [&family, &series] { family.remove(series); });
  return &series;
}

template <typename T>
T& add_child(Metrics& metrics, prometheus::Family<T>& family, const std::string& key,
             const prometheus::Labels& labels) {
  T& child = family.Add(labels);
  metrics.on_created(key, &child, [&family, &child] { family.Remove(&child); });
  return child;
}

}  // namespace

MetricsBinding::MetricsBinding(Metrics& metrics, const Config& config) : metrics_(metrics) {
  auto upstream_series = [&](const std::string& name) {
    const std::string key = "u:" + name;
    metrics.retain(key);
    keys_.push_back(key);
    UpstreamSeries s;
    s.in_flight = &add_child(metrics, metrics.requests_in_flight, key, {{"upstream", name}});
    if (name != "none") {
      s.tunnels = &add_child(metrics, metrics.tunnels_active, key, {{"upstream", name}});
      for (size_t k = 1; k < kUpstreamErrorKinds; ++k) {
        s.errors[k] =
            &add_child(metrics, metrics.upstream_errors, key,
                       {{"upstream", name},
                        {"kind", std::string(upstream_error_name(static_cast<UpstreamError>(k)))}});
      }
      for (size_t r = 0; r < kRetryReasons; ++r) {
        s.retries[r] =
            &add_child(metrics, metrics.upstream_retries, key,
                       {{"upstream", name},
                        {"reason", std::string(retry_reason_name(static_cast<RetryReason>(r)))}});
      }
      s.connect_duration =
          add_histogram(metrics, *metrics.upstream_connect_duration, key, {{"upstream", name}});
      s.header_duration =
          add_histogram(metrics, *metrics.upstream_header_duration, key, {{"upstream", name}});
    }
    return s;
  };
  for (const UpstreamConfig& up : config.upstreams) upstreams_.push_back(upstream_series(up.name));
  upstreams_.push_back(upstream_series("none"));

  // Health check series per checked server, both results from the start.
  for (const UpstreamConfig& up : config.upstreams) {
    std::vector<HealthCheckSeries>& servers = health_checks_.emplace_back(up.servers.size());
    if (!up.health.enabled) continue;
    for (size_t s = 0; s < up.servers.size(); ++s) {
      const std::string server = up.servers[s].text();
      const std::string key = "s:" + up.name + "/" + server;
      metrics.retain(key);
      keys_.push_back(key);
      auto& family = metrics.upstream_health_checks;
      servers[s].ok = &add_child(metrics, family, key,
                                 {{"upstream", up.name}, {"server", server}, {"result", "ok"}});
      servers[s].failed = &add_child(
          metrics, family, key, {{"upstream", up.name}, {"server", server}, {"result", "failed"}});
    }
  }

  // [metrics] per_server: each server's key, for its series made on first use.
  per_server_ = config.metrics.per_server;
  for (const UpstreamConfig& up : config.upstreams) {
    upstream_names_.push_back(up.name);
    std::vector<std::string>& names = server_names_.emplace_back();
    for (const HostPort& hp : up.servers) {
      names.push_back(hp.text());
      if (!per_server_) continue;
      const std::string key = "s:" + up.name + "/" + names.back();
      metrics.retain(key);
      keys_.push_back(key);
    }
  }
  if (per_server_) {
    server_codes_.resize(metrics.workers());
    for (auto& ups : server_codes_) {
      for (const UpstreamConfig& up : config.upstreams) ups.emplace_back(up.servers.size());
    }
  }

  // Ejection series per server of an upstream with [upstream.outlier].
  for (const UpstreamConfig& up : config.upstreams) {
    std::vector<prometheus::Counter*>& servers = ejections_.emplace_back();
    if (!up.outlier.enabled) continue;
    for (const HostPort& hp : up.servers) {
      const std::string server = hp.text();
      const std::string key = "s:" + up.name + "/" + server;
      metrics.retain(key);
      keys_.push_back(key);
      servers.push_back(&add_child(metrics, metrics.upstream_ejections, key,
                                   {{"upstream", up.name}, {"server", server}}));
    }
  }

  for (const RouteConfig& rc : config.routes) {
    RouteSeries r;
    r.labels = {{"upstream", rc.upstream}, {"route", rc.name}};
    r.upstream = rc.upstream_index;
    if (rc.slo) {
      r.slo_latency_ns = static_cast<uint64_t>(std::chrono::nanoseconds(rc.slo->latency).count());
    }
    routes_.push_back(r);
  }
  RouteSeries unmatched;
  unmatched.labels = {{"upstream", "none"}, {"route", "unmatched"}};
  unmatched.upstream = upstreams_.size() - 1;
  routes_.push_back(unmatched);
  for (size_t i = 0; i < routes_.size(); ++i) {
    RouteSeries& r = routes_[i];
    const std::string key = route_key(i);
    metrics.retain(key);
    keys_.push_back(key);
    r.request_bytes = &add_child(metrics, metrics.request_bytes, key, r.labels);
    r.response_bytes = &add_child(metrics, metrics.response_bytes, key, r.labels);
    r.top_paths = metrics.top_paths().route(key);
    if (r.slo_latency_ns != 0) {
      // Every result from the start, at 0: a burn-rate ratio needs all three.
      for (size_t k = 0; k < kSloResults; ++k) {
        prometheus::Labels labels = r.labels;
        labels["result"] = std::string(slo_result_name(static_cast<SloResult>(k)));
        r.slo[k] = &add_child(metrics, metrics.slo_requests, key, labels);
      }
    }
  }

  per_worker_.resize(metrics.workers());
  for (auto& slots : per_worker_) slots.resize(routes_.size());
  // Routes that name their methods get those series at load time; routes
  // open to any method get a method's series on its first request.
  for (size_t r = 0; r < config.routes.size(); ++r) {
    for (const std::string& m : config.routes[r].methods) {
      const auto mi = static_cast<size_t>(http::parse_method(m));
      for (size_t w = 0; w < per_worker_.size(); ++w) resolve(w, r, mi);
    }
  }
}

MetricsBinding::~MetricsBinding() {
  for (const std::string& key : keys_) metrics_.release(key);
}

std::string MetricsBinding::route_key(size_t route) const {
  return "r:" + routes_[route].labels.at("upstream") + "/" + routes_[route].labels.at("route");
}

MetricsBinding::MethodSlot& MetricsBinding::resolve(size_t worker, size_t route, size_t method) {
  MethodSlot& slot = per_worker_[worker][route].methods[method];
  if (slot.duration == nullptr) {
    prometheus::Labels labels = routes_[route].labels;
    labels["method"] = std::string(http::method_name(static_cast<http::Method>(method)));
    const std::string key = route_key(route);
    auto& hist_family = metrics_.request_duration;
    prometheus::Histogram& hist = hist_family.Add(labels, metrics_.config().histogram_buckets);
    metrics_.on_created(key, &hist, [&hist_family, &hist] { hist_family.Remove(&hist); });
    slot.duration = &hist;
    LatencySummaryFamily& summaries = *metrics_.request_latency;
    LatencySummaryFamily::Series& series = summaries.add(labels);
    metrics_.on_created(key, &series, [&summaries, &series] { summaries.remove(series); });
    slot.latency = &series;
    if (ExemplarFamily* exemplars = metrics_.exemplars()) {
      ExemplarSeries& e = exemplars->add(labels);
      metrics_.on_created(key, &e, [exemplars, &e] { exemplars->remove(e); });
      slot.exemplars = &e;
    }
  }
  return slot;
}

prometheus::Counter& MetricsBinding::code_counter(MethodSlot& slot, size_t route, size_t method,
                                                  int status) {
  for (const auto& [c, counter] : slot.codes) {
    if (c == status) return *counter;
  }
  // The series bound: a status outside the registry counts as its class
  // (299 and 298 find the same "2xx" child; the table keeps both, at most
  // the 500 statuses 100-599).
  prometheus::Labels labels = routes_[route].labels;
  labels["method"] = std::string(http::method_name(static_cast<http::Method>(method)));
  labels["code"] = code_label(status_code_key(status));
  prometheus::Counter& counter =
      add_child(metrics_, metrics_.requests_total, route_key(route), labels);
  slot.codes.emplace_back(status, &counter);
  return counter;
}

prometheus::Counter& MetricsBinding::server_code_counter(size_t worker, size_t upstream,
                                                         size_t server, int code) {
  CodeTable& table = server_codes_[worker][upstream][server];
  for (const auto& [c, counter] : table) {
    if (c == code) return *counter;
  }
  const std::string& name = upstream_names_[upstream];
  const std::string& server_name = server_names_[upstream][server];
  prometheus::Counter& counter = add_child(
      metrics_, metrics_.upstream_server_requests, "s:" + name + "/" + server_name,
      {{"upstream", name}, {"server", server_name}, {"code", code_label(status_code_key(code))}});
  table.emplace_back(code, &counter);
  return counter;
}

size_t MetricsBinding::route_slot(const RequestRecord& rec) const {
  return rec.route != nullptr ? rec.route->index : routes_.size() - 1;
}

std::vector<TopPathsRoute> MetricsBinding::top_paths_routes() const {
  std::vector<TopPathsRoute> out;
  for (const RouteSeries& r : routes_) {
    if (r.top_paths) {
      out.push_back({r.labels.at("route"), r.labels.at("upstream"), r.top_paths.get()});
    }
  }
  return out;
}

void MetricsBinding::begin(size_t, RequestRecord& rec) {
  if (rec.in_flight) return;
  rec.in_flight = true;
  upstreams_[routes_[route_slot(rec)].upstream].in_flight->Increment();
}

void MetricsBinding::tunnel_opened(const RequestRecord& rec) {
  if (prometheus::Gauge* g = upstreams_[routes_[route_slot(rec)].upstream].tunnels) g->Increment();
}

void MetricsBinding::tunnel_closed(const RequestRecord& rec) {
  if (prometheus::Gauge* g = upstreams_[routes_[route_slot(rec)].upstream].tunnels) g->Decrement();
}

void MetricsBinding::tunnel_bytes(const RequestRecord& rec, uint64_t from_client,
                                  uint64_t to_client) {
  const RouteSeries& rs = routes_[route_slot(rec)];
  if (from_client != 0) rs.request_bytes->Increment(static_cast<double>(from_client));
  if (to_client != 0) rs.response_bytes->Increment(static_cast<double>(to_client));
}

void MetricsBinding::record(size_t worker, const RequestRecord& rec) {
  const size_t route = route_slot(rec);
  const auto method = static_cast<size_t>(rec.method);
  const RouteSeries& rs = routes_[route];
  UpstreamSeries& us = upstreams_[rs.upstream];
  MethodSlot& slot = resolve(worker, route, method);
  code_counter(slot, route, method, rec.status).Increment();
  const uint64_t duration_ns = rec.end_ns > rec.start_ns ? rec.end_ns - rec.start_ns : 0;
  const double seconds = static_cast<double>(duration_ns) * 1e-9;
  slot.duration->Observe(seconds);
  if (slot.exemplars != nullptr && rec.trace_id.valid()) {
    slot.exemplars->observe(worker, seconds, rec.trace_id, rec.end_ns);
  }
  if (rs.slo_latency_ns != 0) {
    rs.slo[static_cast<size_t>(classify_slo(rec.status, duration_ns, rs.slo_latency_ns))]
        ->Increment();
  }
  slot.latency->observe(worker, seconds, rec.end_ns);
  if (rs.top_paths && rec.path.size != 0) {
    rs.top_paths->observe(worker, rec.path.view(), rec.path.truncated, rec.status, duration_ns,
                          rec.end_ns);
  }
  if (rec.request_body_bytes != 0) {
    rs.request_bytes->Increment(static_cast<double>(rec.request_body_bytes));
  }
  if (rec.response_body_bytes != 0) {
    rs.response_bytes->Increment(static_cast<double>(rec.response_body_bytes));
  }
  if (rec.error != UpstreamError::kNone && us.errors[static_cast<size_t>(rec.error)] != nullptr) {
    us.errors[static_cast<size_t>(rec.error)]->Increment();
  }
  if (per_server_ && rec.server >= 0 && rs.upstream < upstream_names_.size()) {
    server_code_counter(worker, rs.upstream, static_cast<size_t>(rec.server), rec.status)
        .Increment();
  }
  // The attempts before the last: each retry by its reason, each attempt
  // that reached (or tried to reach) a server by that server. Their faults
  // are not upstream_errors_total's: that counts the one fault behind each
  // proxy-made 502/504 the client got (the retry's reason says why).
  for (size_t i = 0; i < rec.retried.count; ++i) {
    const RetriedAttempt& a = rec.retried.at[i];
    if (us.retries[static_cast<size_t>(a.reason)] == nullptr) continue;  // "none"
    us.retries[static_cast<size_t>(a.reason)]->Increment();
    if (per_server_ && a.status != 0 && a.server >= 0 && rs.upstream < upstream_names_.size()) {
      server_code_counter(worker, rs.upstream, static_cast<size_t>(a.server), a.status).Increment();
    }
  }
  const UpstreamTimes& times = rec.upstream_times;
  if (times.connected_ns != 0 && us.connect_duration != nullptr) {
    us.connect_duration->observe(worker, ns_between(times.connect_start_ns, times.connected_ns));
  }
  if (times.head_ns != 0 && times.sent_ns != 0 && us.header_duration != nullptr) {
    us.header_duration->observe(worker, ns_between(times.sent_ns, times.head_ns));
  }
  // Last: a scrape that sees the request no longer in flight sees all of it.
  if (rec.in_flight) us.in_flight->Decrement();
}

}  // namespace routemeter
