#include "routemeter/metrics.hpp"

#include <chrono>
#include <sstream>

#include "routemeter/cardinality.hpp"
#include "routemeter/http.hpp"
#include "routemeter/router.hpp"
#include "routemeter/text_format.hpp"

namespace routemeter {

static_assert(RawPath::kMaxBytes == PathSketch::kMaxPathBytes,
              "a recorded path is cut where the sketch would cut it");

namespace {

std::string name(const MetricsConfig& c, const char* suffix) { return c.name_space + "_" + suffix; }

uint64_t ns_between(uint64_t from_ns, uint64_t to_ns) {
  return to_ns > from_ns ? to_ns - from_ns : 0;
}

}  // namespace

Metrics::Metrics(const MetricsConfig& config, size_t workers)
    : in_flight_registry_(std::make_shared<prometheus::Registry>()),
      registry_(std::make_shared<prometheus::Registry>()),
      requests_in_flight(prometheus::BuildGauge()
                             .Name(name(config, "requests_in_flight"))
                             .Help("Requests started and not yet answered, by upstream.")
                             .Register(*in_flight_registry_)),
      requests_total(prometheus::BuildCounter()
                         .Name(name(config, "requests_total"))
                         .Help("Requests answered, by upstream, route, method and status code.")
                         .Register(*registry_)),
      request_duration(prometheus::BuildHistogram()
                           .Name(name(config, "request_duration_seconds"))
                           .Help("Time from the request head read to the last response byte "
                                 "written.")
                           .Register(*registry_)),
      upstream_errors(prometheus::BuildCounter()
                          .Name(name(config, "upstream_errors_total"))
                          .Help("Upstream faults by kind.")
                          .Register(*registry_)),
      upstream_retries(prometheus::BuildCounter()
                           .Name(name(config, "upstream_retries_total"))
                           .Help("Attempts beyond a request's first, by upstream and the reason "
                                 "of the retry.")
                           .Register(*registry_)),
      request_bytes(prometheus::BuildCounter()
                        .Name(name(config, "request_bytes_total"))
                        .Help("Request body bytes received from clients.")
                        .Register(*registry_)),
      response_bytes(prometheus::BuildCounter()
                         .Name(name(config, "response_bytes_total"))
                         .Help("Response body bytes sent to clients.")
                         .Register(*registry_)),
      config_last_reload_successful(prometheus::BuildGauge()
                                        .Name(name(config, "config_last_reload_successful"))
                                        .Help("Whether the last configuration reload succeeded.")
                                        .Register(*registry_)),
      config_last_reload_success_timestamp(
          prometheus::BuildGauge()
              .Name(name(config, "config_last_reload_success_timestamp_seconds"))
              .Help("Timestamp of the last successful configuration reload.")
              .Register(*registry_)),
      config_reloads_total(prometheus::BuildCounter()
                               .Name(name(config, "config_reloads_total"))
                               .Help("Configuration reloads by result.")
                               .Register(*registry_)),
      accept_errors(prometheus::BuildCounter()
                        .Name(name(config, "accept_errors_total"))
                        .Help("Failed accepts on a listener (e.g. out of file descriptors), by "
                              "listener and reason.")
                        .Register(*registry_)),
      tls_handshakes(prometheus::BuildCounter()
                         .Name(name(config, "tls_handshakes_total"))
                         .Help("TLS handshakes on the HTTPS listeners, by result (failed: also "
                               "timed out, and plain HTTP sent to a TLS port).")
                         .Register(*registry_)),
      upstream_health_checks(prometheus::BuildCounter()
                                 .Name(name(config, "upstream_health_checks_total"))
                                 .Help("Active health checks of upstream servers, by result (ok, "
                                       "failed).")
                                 .Register(*registry_)),
      tunnels_active(prometheus::BuildGauge()
                         .Name(name(config, "tunnels_active"))
                         .Help("Upgraded (WebSocket) connections open, by upstream.")
                         .Register(*registry_)),
      upstream_server_requests(prometheus::BuildCounter()
                                   .Name(name(config, "upstream_server_requests_total"))
                                   .Help("Requests per upstream server, by the status of the "
                                         "attempt ([metrics] per_server).")
                                   .Register(*registry_)),
      upstream_ejections(prometheus::BuildCounter()
                             .Name(name(config, "upstream_ejections_total"))
                             .Help("Passive outlier ejections of upstream servers.")
                             .Register(*registry_)),
      slo_requests(prometheus::BuildCounter()
                       .Name(name(config, "slo_requests_total"))
                       .Help("Requests on routes with an slo, by result: good (no 5xx, within "
                             "the latency), slow (no 5xx, slower), error (5xx).")
                       .Register(*registry_)),
      push_total(prometheus::BuildCounter()
                     .Name(name(config, "push_total"))
                     .Help("Pushes to the Pushgateway of [push], by result: ok, failed.")
                     .Register(*registry_)),
      request_latency(std::make_shared<LatencySummaryFamily>(
          name(config, "request_latency_seconds"),
          "Request durations as quantiles over the last summary_max_age.", config, workers)),
      upstream_connect_duration(std::make_shared<WorkerHistogramFamily>(
          name(config, "upstream_connect_duration_seconds"),
          "TCP connect time of each new upstream connection.", config.histogram_buckets, workers)),
      upstream_header_duration(std::make_shared<WorkerHistogramFamily>(
          name(config, "upstream_header_duration_seconds"),
          "Time from the request's last byte written upstream to the response head read: the "
          "upstream's own time.",
          config.histogram_buckets, workers)),
      request_duration_name_(name(config, "request_duration_seconds")),
      config_(config),
      workers_(workers),
      top_paths_(config.top_paths, workers),
      exemplars_(config.exemplars
                     ? std::make_shared<ExemplarFamily>(workers, config.histogram_buckets)
                     : nullptr) {
  collectables_.push_back(request_latency);
  collectables_.push_back(upstream_connect_duration);
  collectables_.push_back(upstream_header_duration);
  for (size_t l = 0; l < kAcceptListeners; ++l) {
    for (size_t r = 0; r < kAcceptReasons; ++r) {
      accept_error_series_[(l * kAcceptReasons) + r] = &accept_errors.Add(
          {{"listener", std::string(accept_listener_name(static_cast<AcceptListener>(l)))},
           {"reason", std::string(accept_reason_name(r))}});
    }
  }
  tls_handshake_series_[static_cast<size_t>(TlsHandshakeResult::kOk)] =
      &tls_handshakes.Add({{"result", "ok"}});
  tls_handshake_series_[static_cast<size_t>(TlsHandshakeResult::kFailed)] =
      &tls_handshakes.Add({{"result", "failed"}});
}

void Metrics::count_tls_handshake(TlsHandshakeResult result) {
  tls_handshake_series_[static_cast<size_t>(result)]->Increment();
}

void Metrics::count_accept_error(AcceptListener listener, int err) {
  accept_error_series_[(static_cast<size_t>(listener) * kAcceptReasons) + accept_reason(err)]
      ->Increment();
}

Metrics::~Metrics() = default;

void Metrics::add_collectable(std::weak_ptr<prometheus::Collectable> c) {
  collectables_.push_back(std::move(c));
}

std::string Metrics::render(Exposition format) const {
  // In-flight first: see in_flight_registry_.
  std::vector<prometheus::MetricFamily> families = in_flight_registry_->Collect();
  for (auto& f : registry_->Collect()) families.push_back(std::move(f));
  for (const auto& weak : collectables_) {
    if (auto c = weak.lock()) {
      for (auto& f : c->Collect()) families.push_back(std::move(f));
    }
  }
  std::string out;
  out.reserve(last_render_size_.load(std::memory_order_relaxed) + 4096);
  if (format == Exposition::kText) {
    append_text_format(out, families);
  } else {
    append_openmetrics(out, families, exemplars_source());
  }
  last_render_size_.store(out.size(), std::memory_order_relaxed);
  return out;
}

HistogramExemplars Metrics::exemplars_source() const {
  if (!exemplars_) return {};
  // Exemplars carry wall-clock timestamps; requests record a monotonic end.
  const double wall_now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const uint64_t mono_now = monotonic_ns();
  return [this, wall_now, mono_now](const prometheus::MetricFamily& family,
                                    const prometheus::ClientMetric& metric,
                                    std::vector<std::optional<BucketExemplar>>& out) {
    if (family.name != request_duration_name_) return;
    prometheus::Labels labels;
    for (const auto& l : metric.label) labels.emplace(l.name, l.value);
    std::shared_ptr<const ExemplarSeries> series = exemplars_->find(labels);
    if (!series) return;
    for (const std::optional<Exemplar>& e : series->latest()) {
      if (!e) {
        out.emplace_back();
        continue;
      }
      const double age =
          mono_now > e->end_ns ? static_cast<double>(mono_now - e->end_ns) * 1e-9 : 0;
      out.emplace_back(BucketExemplar{trace_id_hex(e->trace_id), e->value, wall_now - age});
    }
  };
}

void Metrics::retain(const std::string& key) {
  std::lock_guard<std::mutex> lock(keys_mu_);
  ++keys_[key].refs;
}

void Metrics::release(const std::string& key) {
  std::vector<std::pair<const void*, std::function<void()>>> removers;
  {
    std::lock_guard<std::mutex> lock(keys_mu_);
    auto it = keys_.find(key);
    if (it == keys_.end() || --it->second.refs != 0) return;
    removers = std::move(it->second.removers);
    keys_.erase(it);
  }
  for (auto& [child, remove] : removers) remove();
}

void Metrics::on_created(const std::string& key, const void* child, std::function<void()> remover) {
  std::lock_guard<std::mutex> lock(keys_mu_);
  auto& removers = keys_[key].removers;
  for (const auto& r : removers) {
    if (r.first == child) return;  // Add() returned an existing child
  }
  removers.emplace_back(child, std::move(remover));
}

namespace {

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
