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

}  // namespace routemeter
