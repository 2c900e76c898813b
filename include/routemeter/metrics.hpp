// The metrics of docs/metrics.md, declared in one place.
//
// Metrics: the process-wide registry and metric families; created once at
// start (namespace, histogram buckets and summary settings come from the first
// config and apply until restart), shared by every snapshot so counters
// survive reloads. Thread-safe (prometheus-cpp families lock on Add/Collect).
//
// MetricsBinding: one snapshot's handles into those families, resolved when
// the config is loaded: per route (and the pseudo-route "unmatched"), per
// method, per upstream (and "none"). The request path only calls
// Increment()/Observe() on pointers it already holds; status codes resolve
// through a small per-worker table per route and method. Each worker touches
// only its own slice.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "routemeter/accept_errors.hpp"
#include "routemeter/config.hpp"
#include "routemeter/exemplars.hpp"
#include "routemeter/latency_summary.hpp"
#include "routemeter/request_record.hpp"
#include "routemeter/slo.hpp"
#include "routemeter/text_format.hpp"
#include "routemeter/top_paths.hpp"
#include "routemeter/worker_histogram.hpp"

namespace routemeter {

constexpr size_t kMethodCount = 10;        // http::Method values, kOther last
constexpr size_t kUpstreamErrorKinds = 7;  // UpstreamError values, kNone first

// The `result` of routemeter_tls_handshakes_total. kFailed includes a
// handshake that timed out and plain HTTP sent to a TLS port.
enum class TlsHandshakeResult : uint8_t { kOk, kFailed };

class Snapshot;

// What /metrics answers in: the text format 0.0.4, or OpenMetrics 1.0.0 (with
// exemplars) for a scraper whose Accept asks for it.
enum class Exposition : uint8_t { kText, kOpenMetrics };

class Metrics {
  // Declared first: the family references below are registered in them.
  // requests_in_flight has a registry of its own, collected before anything
  // else (prometheus-cpp's Registry collects counters before gauges): a
  // worker counts a finished request in every family and decrements its
  // in-flight gauge last, so a scrape that reads no request in flight first
  // finds every finished one in what it reads after.
  std::shared_ptr<prometheus::Registry> in_flight_registry_;
  std::shared_ptr<prometheus::Registry> registry_;

 public:
  Metrics(const MetricsConfig& config, size_t workers);
  ~Metrics();

  prometheus::Registry& registry() { return *registry_; }
  // The routes' top paths (GET /debug/paths); off with [metrics] top_paths = 0.
  TopPaths& top_paths() { return top_paths_; }
  const MetricsConfig& config() const { return config_; }
  size_t workers() const { return workers_; }
  // Adds a scrape-time collector (it must outlive this object).
  void add_collectable(std::weak_ptr<prometheus::Collectable> c);
  // The whole exposition. Thread-safe; called by the admin and push threads,
  // never by a worker.
  std::string render(Exposition format = Exposition::kText) const;
  // The duration histogram's exemplars; null with [metrics] exemplars = false.
  ExemplarFamily* exemplars() const { return exemplars_.get(); }

  // requests_in_flight is rendered first (see in_flight_registry_).
  prometheus::Family<prometheus::Gauge>& requests_in_flight;
  prometheus::Family<prometheus::Counter>& requests_total;
  prometheus::Family<prometheus::Histogram>& request_duration;
  prometheus::Family<prometheus::Counter>& upstream_errors;
  prometheus::Family<prometheus::Counter>& upstream_retries;
  prometheus::Family<prometheus::Counter>& request_bytes;
  prometheus::Family<prometheus::Counter>& response_bytes;
  prometheus::Family<prometheus::Gauge>& config_last_reload_successful;
  prometheus::Family<prometheus::Gauge>& config_last_reload_success_timestamp;
  prometheus::Family<prometheus::Counter>& config_reloads_total;
  prometheus::Family<prometheus::Counter>& accept_errors;
  prometheus::Family<prometheus::Counter>& tls_handshakes;
  prometheus::Family<prometheus::Counter>& upstream_health_checks;
  prometheus::Family<prometheus::Gauge>& tunnels_active;
  prometheus::Family<prometheus::Counter>& upstream_server_requests;
  prometheus::Family<prometheus::Counter>& upstream_ejections;
  prometheus::Family<prometheus::Counter>& slo_requests;
  prometheus::Family<prometheus::Counter>& push_total;  // series added by the Pusher
  std::shared_ptr<LatencySummaryFamily> request_latency;
  // Per upstream, observed per worker (worker_histogram.hpp).
  std::shared_ptr<WorkerHistogramFamily> upstream_connect_duration;
  std::shared_ptr<WorkerHistogramFamily> upstream_header_duration;

  // A failed accept on a listener (accept_errors.hpp): +1 on a series
  // resolved at construction. Lock-free; any thread.
  void count_accept_error(AcceptListener listener, int err);
  // A finished TLS handshake: +1 on a series resolved at construction (both
  // results are exposed from the start). Lock-free; any thread.
  void count_tls_handshake(TlsHandshakeResult result);

  // Series lifetime across reloads. A binding retains the keys of the routes,
  // upstreams and checked servers it serves ("u:<upstream>",
  // "r:<upstream>/<route>", "s:<upstream>/<server>") and
  // registers a remover for every child it creates under a key; when the
  // last binding holding a key goes, that key's series leave /metrics.
  // Thread-safe.
  void retain(const std::string& key);
  void release(const std::string& key);
  void on_created(const std::string& key, const void* child, std::function<void()> remover);

 private:
  struct KeyState {
    size_t refs = 0;
    std::vector<std::pair<const void*, std::function<void()>>> removers;
  };
  std::mutex keys_mu_;
  std::map<std::string, KeyState> keys_;

  // What render() in OpenMetrics asks for the duration histogram's exemplars.
  HistogramExemplars exemplars_source() const;
  std::string request_duration_name_;
  MetricsConfig config_;
  size_t workers_;
  TopPaths top_paths_;
  std::shared_ptr<ExemplarFamily> exemplars_;
  // accept_errors children, every listener x reason (all exposed from the start).
  std::array<prometheus::Counter*, kAcceptListeners * kAcceptReasons> accept_error_series_{};
  std::array<prometheus::Counter*, 2> tls_handshake_series_{};  // [TlsHandshakeResult]
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;
  mutable std::atomic<size_t> last_render_size_{0};
};

class MetricsBinding {
 public:
  MetricsBinding(Metrics& metrics, const Config& config);
  ~MetricsBinding();
  MetricsBinding(const MetricsBinding&) = delete;
  MetricsBinding& operator=(const MetricsBinding&) = delete;

  // Worker `worker` started a request (its route is known): in-flight + 1.
  void begin(size_t worker, RequestRecord& rec);
  // The request ended (last byte written, or the client went away).
  void record(size_t worker, const RequestRecord& rec);
  // An upgraded request's tunnel opened / closed (tunnels_active), and the
  // bytes through it (request/response bytes, counted as they pass).
  void tunnel_opened(const RequestRecord& rec);
  void tunnel_closed(const RequestRecord& rec);
  void tunnel_bytes(const RequestRecord& rec, uint64_t from_client, uint64_t to_client);
  // A worker's proxy listener failed to accept (Metrics::count_accept_error).
  void count_accept_error(AcceptListener listener, int err) {
    metrics_.count_accept_error(listener, err);
  }
  // A worker finished a TLS handshake (Metrics::count_tls_handshake).
  void count_tls_handshake(TlsHandshakeResult result) { metrics_.count_tls_handshake(result); }
  // The routes (config order, then "unmatched") with their top paths, for
  // GET /debug/paths; empty when top paths are off. Any thread.
  std::vector<TopPathsRoute> top_paths_routes() const;

  // upstream_health_checks_total of one server, by result; both null for an
  // upstream without [upstream.health]. For the health checker.
  struct HealthCheckSeries {
    prometheus::Counter* ok = nullptr;
    prometheus::Counter* failed = nullptr;
  };
  HealthCheckSeries health_checks(size_t upstream, size_t server) const {
    return health_checks_[upstream][server];
  }

  // upstream_ejections_total per server of `upstream`; empty for an upstream
  // without [upstream.outlier]. For the snapshot's ResolvedUpstream.
  const std::vector<prometheus::Counter*>& ejections(size_t upstream) const {
    return ejections_[upstream];
  }

 private:
  struct MethodSlot {
    prometheus::Histogram* duration = nullptr;
    LatencySummaryFamily::Series* latency = nullptr;
    ExemplarSeries* exemplars = nullptr;  // null: exemplars off
    // status -> requests_total child; filled on first use of a status.
    std::vector<std::pair<int, prometheus::Counter*>> codes;
  };
  struct RouteSlot {
    std::array<MethodSlot, kMethodCount> methods;
  };
  struct RouteSeries {          // shared by all workers
    prometheus::Labels labels;  // upstream, route
    size_t upstream = 0;        // index into upstreams_ (last = "none")
    prometheus::Counter* request_bytes = nullptr;
    prometheus::Counter* response_bytes = nullptr;
    // With an `slo`: slo_requests_total by SloResult, and its latency.
    std::array<prometheus::Counter*, kSloResults> slo{};
    uint64_t slo_latency_ns = 0;               // 0: the route has no `slo`
    std::shared_ptr<RouteTopPaths> top_paths;  // null: [metrics] top_paths = 0
  };
  struct UpstreamSeries {
    prometheus::Gauge* in_flight = nullptr;
    prometheus::Gauge* tunnels = nullptr;
    std::array<prometheus::Counter*, kUpstreamErrorKinds> errors{};
    std::array<prometheus::Counter*, kRetryReasons> retries{};  // every reason from the start
    WorkerHistogramFamily::Series* connect_duration = nullptr;  // null for "none"
    WorkerHistogramFamily::Series* header_duration = nullptr;
  };

  size_t route_slot(const RequestRecord& rec) const;
  MethodSlot& resolve(size_t worker, size_t route, size_t method);
  std::string route_key(size_t route) const;
  std::vector<std::string> keys_;  // retained keys, released on destruction
  prometheus::Counter& code_counter(MethodSlot& slot, size_t route, size_t method, int status);

  Metrics& metrics_;                                // outlives every binding (owned by the Server)
  std::vector<RouteSeries> routes_;                 // config routes, then "unmatched"
  std::vector<UpstreamSeries> upstreams_;           // config upstreams, then "none"
  std::vector<std::vector<RouteSlot>> per_worker_;  // [worker][route]
  std::vector<std::vector<HealthCheckSeries>> health_checks_;  // [upstream][server]
  std::vector<std::vector<prometheus::Counter*>> ejections_;   // [upstream][server]
  // [metrics] per_server: upstream_server_requests_total, status code ->
  // child, per [worker][upstream][server]; filled on first use of a code.
  using CodeTable = std::vector<std::pair<int, prometheus::Counter*>>;
  bool per_server_ = false;
  std::vector<std::vector<std::vector<CodeTable>>> server_codes_;
  std::vector<std::vector<std::string>> server_names_;  // [upstream][server]
  std::vector<std::string> upstream_names_;
  prometheus::Counter& server_code_counter(size_t worker, size_t upstream, size_t server, int code);
};

}  // namespace routemeter
