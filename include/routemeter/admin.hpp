// The admin listener (docs/operations.md, "Admin endpoints"): a small table of
// endpoints {path, method, help, gzip, handler} served with evhttp on the main
// thread, on its own socket, never on a proxy port. `/` lists the table. With
// a token configured, every endpoint but /healthz and /status (a page that
// holds no data and asks for the token) requires "Authorization: Bearer"
// (compared in constant time). The listener's limits (head and body
// size, connections at once, timeouts) are in admin_connections.hpp.
// admin_endpoints() is routemeter's table; the Server implements the
// AdminDelegate it calls into. Everything here runs on the main thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "routemeter/admin_connections.hpp"
#include "routemeter/event_handles.hpp"
#include "routemeter/metrics.hpp"

struct evconnlistener;
struct evhttp;
struct evhttp_request;

namespace routemeter {

struct AdminResponse {
  AdminResponse() = default;
  AdminResponse(int status_code, std::string type, std::string text)
      : status(status_code), content_type(std::move(type)), body(std::move(text)) {}

  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string content_encoding;  // "gzip" when `body` is compressed; empty: identity
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
};

struct AdminRequest {
  std::string_view method;  // "GET", "POST", ...
  std::string_view path;
  std::string_view accept_encoding;
  std::string_view query;       // after '?', without it; empty if none
  std::string_view accept;      // the Accept header; empty if none
  bool token_required = false;  // the listener has a token (set by AdminServer::handle)
};

struct AdminEndpoint {
  std::string path;
  std::string method;  // "GET" or "POST"
  std::string help;
  bool gzip = false;  // a 200 answer is gzip-compressed when the request accepts it
  std::function<AdminResponse(const AdminRequest&)> handler;
  // With a token configured, whether the endpoint requires it. Only /healthz
  // (no data) and /status (a page without data that asks for the token)
  // are served without it.
  bool needs_token = true;
};

class AdminServer {
 public:
  explicit AdminServer(event_base* base);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void add(AdminEndpoint endpoint);
  void set_token(std::optional<std::string> token) { token_ = std::move(token); }
  // Called with errno for each failed accept worth counting (accept_errors.hpp).
  void set_accept_error_counter(std::function<void(int)> count) {
    count_accept_error_ = std::move(count);
  }
  // Takes ownership of a bound, listening socket.
  bool serve(UniqueFd fd);

  // Routing without sockets (what the evhttp callback calls; tests use it).
  AdminResponse handle(const AdminRequest& req, std::string_view authorization) const;

 private:
  void on_request(evhttp_request* req);
  void on_accept_error(int err);
  AdminResponse index() const;

  event_base* base_;
  evhttp* http_ = nullptr;
  evconnlistener* listener_ = nullptr;  // evhttp's, on the socket serve() was given
  EventPtr accept_backoff_ev_;          // re-enables listener_ after a failed accept
  std::function<void(int)> count_accept_error_;
  std::unique_ptr<AdminConnections> connections_;  // destroyed after http_ is freed
  std::vector<AdminEndpoint> endpoints_;
  std::optional<std::string> token_;
};

// What routemeter's admin endpoints read from and do to the running process.
// Implemented by the Server, which outlives its AdminServer and the table's
// handlers.
class AdminDelegate {
 public:
  struct ReloadResult {
    bool ok = false;
    std::string message;  // errors (file:line:col) or notes on what needs a restart
  };

  virtual std::string render_metrics(Exposition format) const = 0;
  virtual bool draining() const = 0;
  virtual std::string config_json() const = 0;  // the effective config, token omitted
  virtual ReloadResult reload() = 0;            // re-reads the config file
  // GET /debug/paths: the top raw paths of every route, or of the route
  // named `route` when it is not empty (JSON; 404 when off or no such route).
  virtual AdminResponse debug_paths(std::string_view route) const = 0;
  // GET /status.json: the sampled history and current totals (status_history.hpp).
  virtual std::string status_json() const = 0;

 protected:
  ~AdminDelegate() = default;
};

// routemeter's admin endpoints, in the order `/` lists them: /metrics,
// /healthz, /readyz, /version, /config, /-/reload, /debug/paths, /status,
// /status.json.
std::vector<AdminEndpoint> admin_endpoints(AdminDelegate& delegate);

// The body of GET /version: version, revision, build date and library versions (JSON).
std::string version_json();

// The name=value pairs of a query string ("route=car-api&x=%2F"), '+' and
// %XX decoded, in order; false (and `out` partial) on a malformed %-escape.
bool parse_query(std::string_view query, std::vector<std::pair<std::string, std::string>>& out);

// Whether an Accept value prefers OpenMetrics (application/openmetrics-text
// with a q at least that of text/plain), as Prometheus's does.
bool wants_openmetrics(std::string_view accept);

// gzip-compresses `data` (endpoints marked gzip, for "Accept-Encoding: gzip").
std::string gzip_compress(std::string_view data);
// Whether an Accept-Encoding value accepts gzip (q > 0).
bool accepts_gzip(std::string_view accept_encoding);
// a == b in a time that depends only on the length of `expected`, never on
// where the two differ (the bearer token check).
bool constant_time_equal(std::string_view given, std::string_view expected);

}  // namespace routemeter
