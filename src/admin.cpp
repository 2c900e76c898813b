#include "routemeter/admin.hpp"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>

#include "routemeter/accept_errors.hpp"
#include "routemeter/build_info.hpp"
#include "routemeter/http.hpp"
#include "routemeter/json.hpp"
#include "routemeter/status_page.hpp"
#include "routemeter/versions.hpp"

namespace routemeter {

namespace {

// Which AdminServer owns an evhttp listener: its error callback only gets the
// evhttp as argument. Main thread only.
std::vector<std::pair<evconnlistener*, AdminServer*>>& admin_listeners() {
  static std::vector<std::pair<evconnlistener*, AdminServer*>> listeners;
  return listeners;
}

}  // namespace

AdminServer::AdminServer(event_base* base)
    : base_(base),
      http_(evhttp_new(base)),
      connections_(std::make_unique<AdminConnections>(base, http_)) {
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
  evhttp_set_gencb(
      http_, [](evhttp_request* r, void* arg) { static_cast<AdminServer*>(arg)->on_request(r); },
      this);
}

AdminServer::~AdminServer() {
  std::erase_if(admin_listeners(), [this](const auto& entry) { return entry.second == this; });
  if (http_ != nullptr) evhttp_free(http_);
}

void AdminServer::add(AdminEndpoint endpoint) { endpoints_.push_back(std::move(endpoint)); }

bool AdminServer::serve(UniqueFd fd) {
  evhttp_bound_socket* bound = evhttp_accept_socket_with_handle(http_, fd.get());
  if (bound == nullptr) return false;
  fd.release();  // evhttp closes it
  // Without an error callback, libevent logs every failed accept and tries
  // again at once: out of descriptors, that spins.
  listener_ = evhttp_bound_socket_get_listener(bound);
  admin_listeners().emplace_back(listener_, this);
  evconnlistener_set_error_cb(listener_, [](evconnlistener* listener, void*) {
    const int err = EVUTIL_SOCKET_ERROR();
    for (const auto& [l, server] : admin_listeners()) {
      if (l == listener) server->on_accept_error(err);
    }
  });
  accept_backoff_ev_.reset(evtimer_new(
      base_,
      [](evutil_socket_t, short, void* arg) {
        evconnlistener_enable(static_cast<AdminServer*>(arg)->listener_);
      },
      this));
  return true;
}

void AdminServer::on_accept_error(int err) {
  if (accept_error_retriable(err)) return;
  if (count_accept_error_) count_accept_error_(err);
  log_accept_error(AcceptListener::kAdmin, err);
  evconnlistener_disable(listener_);
  const timeval tv{0, static_cast<suseconds_t>(std::chrono::microseconds(kAcceptBackoff).count())};
  evtimer_add(accept_backoff_ev_.get(), &tv);
}

AdminResponse AdminServer::index() const {
  AdminResponse r;
  r.body = "routemeter admin\n\n";
  for (const AdminEndpoint& e : endpoints_) {
    r.body += e.method + " " + e.path +
              std::string(e.path.size() < 14 ? 14 - e.path.size() : 1, ' ') + e.help + "\n";
  }
  return r;
}

AdminResponse AdminServer::handle(const AdminRequest& req, std::string_view authorization) const {
  const AdminEndpoint* endpoint = nullptr;
  for (const AdminEndpoint& e : endpoints_) {
    if (e.path == req.path) endpoint = &e;
  }
  // Unknown paths and `/` need the token too: without it, every path answers 401.
  if (token_ && (endpoint == nullptr || endpoint->needs_token)) {
    const std::string expected = "Bearer " + *token_;
    if (!constant_time_equal(authorization, expected)) {
      return {401, "text/plain; charset=utf-8",
              "unauthorized: send Authorization: Bearer <token>\n"};
    }
  }
  if (req.path == "/") {
    if (req.method != "GET" && req.method != "HEAD")
      return {405, "text/plain", "method not allowed\n"};
    return index();
  }
  if (endpoint == nullptr) {
    return {404, "text/plain; charset=utf-8", "not found; GET / lists the endpoints\n"};
  }
  const AdminEndpoint& e = *endpoint;
  const bool method_ok = req.method == e.method || (e.method == "GET" && req.method == "HEAD");
  if (!method_ok)
    return {405, "text/plain; charset=utf-8", "method not allowed: use " + e.method + "\n"};
  AdminRequest with_auth = req;
  with_auth.token_required = token_.has_value();
  AdminResponse res = e.handler(with_auth);
  if (e.gzip && res.status == 200 && accepts_gzip(req.accept_encoding)) {
    res.body = gzip_compress(res.body);
    res.content_encoding = "gzip";
  }
  return res;
}

void AdminServer::on_request(evhttp_request* req) {
  connections_->request_read(req);
  const char* uri = evhttp_request_get_uri(req);
  std::string_view path = uri != nullptr ? uri : "/";
  std::string_view query;
  if (auto q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  std::string_view method;
  switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
      method = "GET";
      break;
    case EVHTTP_REQ_POST:
      method = "POST";
      break;
    case EVHTTP_REQ_HEAD:
      method = "HEAD";
      break;
    default:
      method = "OTHER";
      break;
  }
  evkeyvalq* in = evhttp_request_get_input_headers(req);
  const char* auth = evhttp_find_header(in, "Authorization");
  const char* ae = evhttp_find_header(in, "Accept-Encoding");
  const char* accept = evhttp_find_header(in, "Accept");
  AdminRequest areq{method, path, ae != nullptr ? ae : "", query, accept != nullptr ? accept : ""};
  AdminResponse res = handle(areq, auth != nullptr ? auth : "");

  evkeyvalq* out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", res.content_type.c_str());
  evhttp_add_header(out, "Cache-Control", "no-store");
  if (res.status == 401) evhttp_add_header(out, "WWW-Authenticate", "Bearer");
  if (!res.content_encoding.empty()) {
    evhttp_add_header(out, "Content-Encoding", res.content_encoding.c_str());
  }
  evhttp_add_header(out, "Vary", "Accept-Encoding");
  for (const auto& [name, value] : res.headers) {
    evhttp_add_header(out, name.c_str(), value.c_str());
  }
  evbuffer* body = evbuffer_new();
  evbuffer_add(body, res.body.data(), res.body.size());
  evhttp_send_reply(req, res.status, nullptr, body);
  evbuffer_free(body);
}

std::vector<AdminEndpoint> admin_endpoints(AdminDelegate& delegate) {
  std::vector<AdminEndpoint> table;
  table.push_back({"/metrics", "GET",
                   "Prometheus metrics (text 0.0.4, or OpenMetrics 1.0.0 if asked; gzip if asked)",
                   true, [&delegate](const AdminRequest& req) {
                     if (wants_openmetrics(req.accept)) {
                       return AdminResponse{
                           200, "application/openmetrics-text; version=1.0.0; charset=utf-8",
                           delegate.render_metrics(Exposition::kOpenMetrics)};
                     }
                     return AdminResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                          delegate.render_metrics(Exposition::kText)};
                   }});
  table.push_back({"/healthz", "GET", "200 while the process runs", false,
                   [](const AdminRequest&) {
                     return AdminResponse{200, "text/plain", "ok\n"};
                   },
                   false});
  table.push_back({"/readyz", "GET", "200 when serving, 503 while draining", false,
                   [&delegate](const AdminRequest&) {
                     return delegate.draining() ? AdminResponse{503, "text/plain", "draining\n"}
                                                : AdminResponse{200, "text/plain", "ready\n"};
                   }});
  table.push_back({"/version", "GET", "version, revision, build date, libraries (JSON)", false,
                   [](const AdminRequest&) {
                     return AdminResponse{200, "application/json", version_json()};
                   }});
  table.push_back({"/config", "GET", "the effective config (JSON, token omitted)", false,
                   [&delegate](const AdminRequest&) {
                     return AdminResponse{200, "application/json", delegate.config_json() + "\n"};
                   }});
  table.push_back({"/-/reload", "POST", "reload the config file (as SIGHUP)", false,
                   [&delegate](const AdminRequest&) {
                     const AdminDelegate::ReloadResult r = delegate.reload();
                     std::string body = r.ok ? "reloaded\n" : "reload failed; old config kept\n";
                     if (!r.message.empty()) body += r.message + "\n";
                     return AdminResponse{r.ok ? 200 : 400, "text/plain; charset=utf-8", body};
                   }});
  table.push_back(
      {"/debug/paths", "GET", "most frequent raw paths per route (JSON; ?route=NAME)", true,
       [&delegate](const AdminRequest& req) {
         std::vector<std::pair<std::string, std::string>> params;
         if (!parse_query(req.query, params)) {
           return AdminResponse{400, "text/plain; charset=utf-8", "malformed query string\n"};
         }
         std::string route;
         for (const auto& [name, value] : params) {
           if (name != "route") {
             return AdminResponse{400, "text/plain; charset=utf-8",
                                  "unknown parameter \"" + name + "\"; only route=NAME\n"};
           }
           route = value;
         }
         return delegate.debug_paths(route);
       }});
  table.push_back({"/status", "GET",
                   "live RED page per route and upstream (HTML; asks for the token itself)", true,
                   [](const AdminRequest& req) {
                     const std::string nonce = random_nonce();
                     AdminResponse res{200, "text/html; charset=utf-8",
                                       status_page_html(nonce, req.token_required)};
                     res.headers = {{"Content-Security-Policy", status_page_csp(nonce)},
                                    {"X-Content-Type-Options", "nosniff"},
                                    {"Referrer-Policy", "no-referrer"}};
                     return res;
                   },
                   false});
  table.push_back({"/status.json", "GET", "the data of /status: 15 minutes per route (JSON)", true,
                   [&delegate](const AdminRequest&) {
                     return AdminResponse{200, "application/json", delegate.status_json()};
                   }});
  return table;
}

bool parse_query(std::string_view query, std::vector<std::pair<std::string, std::string>>& out) {
  auto decode = [](std::string_view in, std::string& text) {
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        text += ' ';
      } else if (in[i] != '%') {
        text += in[i];
      } else {
        if (i + 2 >= in.size() || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) return false;
        text += static_cast<char>((hex(in[i + 1]) * 16) + hex(in[i + 2]));
        i += 2;
      }
    }
    return true;
  };
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string name;
    std::string value;
    if (!decode(pair.substr(0, eq), name)) return false;
    if (eq != std::string_view::npos && !decode(pair.substr(eq + 1), value)) return false;
    out.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

std::string version_json() {
  std::string out = "{\"version\":";
  append_json_string(out, build::kVersion);
  out += ",\"revision\":";
  append_json_string(out, build::kRevision);
  out += ",\"build_date\":";
  append_json_string(out, build::kDate);
  out += ",\"libraries\":{";
  bool first = true;
  for (const LibraryVersion& lib : library_versions()) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, lib.name);
    out += ':';
    append_json_string(out, lib.version);
  }
  out += "}}\n";
  return out;
}

std::string gzip_compress(std::string_view data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper instead of zlib's.
  deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out;
  out.resize(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

bool wants_openmetrics(std::string_view accept) {
  // The q of the best entry of each media type (1 without a q parameter).
  double openmetrics = 0;
  double text = 0;
  while (!accept.empty()) {
    const size_t comma = accept.find(',');
    std::string_view item = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    const size_t semi = item.find(';');
    std::string_view type = item.substr(0, semi);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
    double q = 1;
    for (std::string_view params = semi == std::string_view::npos ? "" : item.substr(semi + 1);
         !params.empty();) {
      const size_t next = params.find(';');
      std::string_view param = params.substr(0, next);
      params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
      while (!param.empty() && param.front() == ' ') param.remove_prefix(1);
      if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        q = std::strtod(std::string(param.substr(2)).c_str(), nullptr);
      }
    }
    if (http::iequals(type, "application/openmetrics-text")) openmetrics = std::max(openmetrics, q);
    if (http::iequals(type, "text/plain")) text = std::max(text, q);
  }
  return openmetrics > 0 && openmetrics >= text;
}

bool accepts_gzip(std::string_view v) {
  // Tokens separated by commas, each "coding[;q=x]".
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    size_t semi = item.find(';');
    std::string_view coding = item.substr(0, semi);
    while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t'))
      coding.remove_suffix(1);
    if (!http::iequals(coding, "gzip") && coding != "*") continue;
    if (semi == std::string_view::npos) return true;
    std::string_view params = item.substr(semi + 1);
    size_t q = params.find("q=");
    if (q == std::string_view::npos) return true;
    std::string_view qv = params.substr(q + 2);
    // q=0, q=0.0, q=0.000 refuse; anything else accepts.
    bool zero = !qv.empty() && qv[0] == '0';
    for (size_t i = 1; zero && i < qv.size() && qv[i] != ' ' && qv[i] != ';'; ++i) {
      if (qv[i] != '.' && qv[i] != '0') zero = false;
    }
    if (!zero) return true;
  }
  return false;
}

bool constant_time_equal(std::string_view given, std::string_view expected) {
  // Every byte of `expected` is looked at whatever `given` holds; a length
  // mismatch is folded into the same accumulator instead of returning early.
  unsigned diff = given.size() == expected.size() ? 0U : 1U;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= g ^ static_cast<unsigned char>(expected[i]);
  }
  return diff == 0;
}

}  // namespace routemeter
