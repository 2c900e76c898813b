// The admin listener (DESIGN.md section 5): a small table of endpoints
// {path, method, help, handler} served with evhttp on the main thread, on its
// own socket, never on a proxy port. `/` lists the table. With a token
// configured, every endpoint but /healthz requires "Authorization: Bearer".
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/event_handles.hpp"

struct evhttp;
struct evhttp_request;

namespace routemeter {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct AdminRequest {
  std::string_view method;  // "GET", "POST", ...
  std::string_view path;
  std::string_view accept_encoding;
};

struct AdminEndpoint {
  std::string path;
  std::string method;  // "GET" or "POST"
  std::string help;
  std::function<AdminResponse(const AdminRequest&)> handler;
};

class AdminServer {
 public:
  explicit AdminServer(event_base* base);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void add(AdminEndpoint endpoint);
  void set_token(std::optional<std::string> token) { token_ = std::move(token); }
  // Takes ownership of a bound, listening socket.
  bool serve(UniqueFd fd);

  // Routing without sockets (what the evhttp callback calls; tests use it).
  AdminResponse handle(const AdminRequest& req, std::string_view authorization) const;

 private:
  void on_request(evhttp_request* req);
  AdminResponse index() const;

  evhttp* http_ = nullptr;
  std::vector<AdminEndpoint> endpoints_;
  std::optional<std::string> token_;
};

// gzip-compresses `data` (for /metrics with "Accept-Encoding: gzip").
std::string gzip_compress(std::string_view data);
// Whether an Accept-Encoding value accepts gzip (q > 0).
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace routemeter
